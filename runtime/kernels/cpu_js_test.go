//go:build js

package kernels

import "syscall/js"

// cpuSeconds is the process's CPU time (user + system), read from node's
// process.cpuUsage: on a shared machine it varies much less than wall time
// for a single-threaded run.
func cpuSeconds() float64 {
	u := js.Global().Get("process").Call("cpuUsage")
	return (u.Get("user").Float() + u.Get("system").Float()) / 1e6
}
