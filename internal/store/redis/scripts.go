package redis

import goredis "github.com/redis/go-redis/v9"

// The Lua scripts below are the atomic steps. Each touches only keys under one hash tag (some build
// key names from a prefix passed in ARGV; those keys share the tag of KEYS[1], so Cluster accepts them).
// Scripts never read the server's clock: times come from the caller, whose clock tests inject.
// Not-found answers are numbers or empty arrays, never Lua false/nil, whose reply type differs
// between RESP2 and RESP3.

// createOperatorScript writes the operator unless its id is taken in the tenant, or its SSO key (when it
// has one) already links another operator of the tenant.
// KEYS: op, ops[, ssokey]. ARGV: json, id. Returns 1 (created), 0 (id taken) or -1 (SSO key taken).
var createOperatorScript = goredis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if #KEYS == 3 and redis.call('EXISTS', KEYS[3]) == 1 then return -1 end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[2])
if #KEYS == 3 then redis.call('SET', KEYS[3], ARGV[2]) end
return 1
`)

// releaseEmailScript deletes an email index entry only if it still names the operator we reserved it for,
// so a rollback cannot remove another writer's reservation.
// KEYS: email. ARGV: value. Returns 1 (deleted) or 0.
var releaseEmailScript = goredis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// updateOperatorScript replaces an operator that exists and keeps its email, and moves its SSO key index
// entry from the stored record's key to the new one. The old entry is deleted only if it still names this
// operator, and a new key that links another operator refuses the whole update.
// KEYS: op[, new ssokey]. ARGV: json, normalized email, id, ssokey prefix, new SSO key ("" for none).
// Returns 1 (replaced), 0 (absent), -1 (email differs), -2 (SSO key links another operator).
var updateOperatorScript = goredis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
local ok, o = pcall(cjson.decode, cur)
if not ok or type(o) ~= 'table' or o.email ~= ARGV[2] then return -1 end
local old = o.sso_key
if type(old) ~= 'string' then old = '' end
local new = ARGV[5]
if new ~= '' then
  local owner = redis.call('GET', KEYS[2])
  if owner and owner ~= ARGV[3] then return -2 end
end
if old ~= '' and old ~= new and redis.call('GET', ARGV[4] .. old) == ARGV[3] then
  redis.call('DEL', ARGV[4] .. old)
end
if new ~= '' then redis.call('SET', KEYS[2], ARGV[3]) end
redis.call('SET', KEYS[1], ARGV[1])
return 1
`)

// createSessionScript stores a session with a TTL and adds it to its operator's index, whose TTL is
// raised to cover the new session (never lowered: it must outlive every session it lists). Index
// entries whose session has expired or been deleted are pruned on the way, so the set stays small.
// KEYS: sess, index. ARGV: json, ttl ms, hex id, session key prefix.
var createSessionScript = goredis.NewScript(`
local ttl = tonumber(ARGV[2])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
for _, m in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if redis.call('EXISTS', ARGV[4] .. m) == 0 then redis.call('SREM', KEYS[2], m) end
end
redis.call('SADD', KEYS[2], ARGV[3])
if redis.call('PTTL', KEYS[2]) < ttl then redis.call('PEXPIRE', KEYS[2], ttl) end
return 1
`)

// deleteSessionScript deletes one session and its index entry (the operator id is read from the record).
// KEYS: sess. ARGV: index key prefix, hex id. Returns 1 (deleted) or 0 (absent).
var deleteSessionScript = goredis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
redis.call('DEL', KEYS[1])
local ok, s = pcall(cjson.decode, v)
if ok and type(s) == 'table' and type(s.user) == 'string' then
  redis.call('SREM', ARGV[1] .. s.user, ARGV[2])
end
return 1
`)

// deleteOperatorSessionsScript deletes every session in an operator's index, and the index.
// KEYS: index. ARGV: session key prefix. Returns how many sessions existed.
var deleteOperatorSessionsScript = goredis.NewScript(`
local n = 0
for _, m in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  n = n + redis.call('DEL', ARGV[1] .. m)
end
redis.call('DEL', KEYS[1])
return n
`)

// getCredentialsScript reads the credentials and counts the recovery codes in one consistent step.
// KEYS: cred, rc. Returns {0} (not enrolled) or {1, secret, enrolled, step, codes left}.
var getCredentialsScript = goredis.NewScript(`
local v = redis.call('HMGET', KEYS[1], 'secret', 'enrolled', 'step')
if not v[1] then return {0} end
return {1, v[1], v[2] or '', v[3] or '0', redis.call('SCARD', KEYS[2])}
`)

// activateTOTPScript enrolls an operator who has no secret yet: secret, used step and recovery codes at once.
// KEYS: cred, rc. ARGV: secret, enrolled, step, code hashes... Returns 1 (enrolled) or 0 (already enrolled).
var activateTOTPScript = goredis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[1], 'secret', ARGV[1], 'enrolled', ARGV[2], 'step', ARGV[3])
for i = 4, #ARGV do redis.call('SADD', KEYS[2], ARGV[i]) end
return 1
`)

// useStepScript is the TOTP replay guard: compare-and-set of the last used step.
// KEYS: cred. ARGV: step. Returns 1 (step was later, now recorded) or 0.
var useStepScript = goredis.NewScript(`
local last = redis.call('HGET', KEYS[1], 'step')
if not last then return 0 end
if tonumber(ARGV[1]) > tonumber(last) then
  redis.call('HSET', KEYS[1], 'step', ARGV[1])
  return 1
end
return 0
`)

// consumeRecoveryScript uses up one recovery code: SREM and SCARD in one step, so two racing
// submissions of one code cannot both see it removed.
// KEYS: cred, rc. ARGV: hash. Returns {removed 0|1, codes left}.
var consumeRecoveryScript = goredis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, 0} end
local r = redis.call('SREM', KEYS[2], ARGV[1])
return {r, redis.call('SCARD', KEYS[2])}
`)

// replaceRecoveryScript swaps an enrolled operator's codes for new ones (the old ones all die at once).
// KEYS: cred, rc. ARGV: hashes... Returns 1 (replaced) or 0 (not enrolled).
var replaceRecoveryScript = goredis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('DEL', KEYS[2])
for i = 1, #ARGV do redis.call('SADD', KEYS[2], ARGV[i]) end
return 1
`)

// attemptScript is the lockout check-and-count. A window opens at the first attempt and ends
// (exclusively) at start+window; the end is kept as seconds and nanoseconds because Lua numbers are
// doubles, which cannot hold Unix nanoseconds exactly. The key expires a minute after the window ends,
// as a relative TTL: the server's clock plays no part in the verdict. The limit of the last counted
// attempt is kept too, so Status can say whether the next attempt would pass.
// KEYS: lock. ARGV: now s, now ns, now ms, max, window s, window ns.
// Returns {allowed 0|1, count, end s, end ns}.
var attemptScript = goredis.NewScript(`
local now_s, now_ns = tonumber(ARGV[1]), tonumber(ARGV[2])
local max = tonumber(ARGV[4])
local v = redis.call('HMGET', KEYS[1], 'end_s', 'end_ns', 'n')
local end_s, end_ns, n = tonumber(v[1]), tonumber(v[2]), tonumber(v[3])
local open = end_s and end_ns and n and (now_s < end_s or (now_s == end_s and now_ns < end_ns))
if not open then
  end_s = now_s + tonumber(ARGV[5])
  end_ns = now_ns + tonumber(ARGV[6])
  if end_ns >= 1000000000 then
    end_s = end_s + 1
    end_ns = end_ns - 1000000000
  end
  n = 1
  redis.call('HSET', KEYS[1], 'start', ARGV[3], 'end_s', string.format('%.0f', end_s),
    'end_ns', string.format('%.0f', end_ns), 'n', 1, 'max', ARGV[4])
elseif n >= max then
  return {0, n, end_s, end_ns}
else
  n = redis.call('HINCRBY', KEYS[1], 'n', 1)
  redis.call('HSET', KEYS[1], 'max', ARGV[4])
end
local ttl = math.floor((end_s - now_s) * 1000 + (end_ns - now_ns) / 1000000) + 60000
redis.call('PEXPIRE', KEYS[1], ttl)
return {1, n, end_s, end_ns}
`)

// putMetaScript stores a value unless one exists and returns what is stored afterwards.
// KEYS: meta. ARGV: value.
var putMetaScript = goredis.NewScript(`
redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])
`)
