//go:build !linux

package directory

// lowerThisThread is Linux-only; elsewhere hashing runs at normal priority on its own thread.
func lowerThisThread() {}

// addHashingProcs only helps where the hashing threads are lowered (Linux); elsewhere it does nothing.
func addHashingProcs(int) {}

// isMainThread only matters where threads are lowered.
func isMainThread() bool { return false }
