//go:build race

package transform

// raceEnabled relaxes timing limits: the race detector slows memory
// access several times over, and the limits are about the code's speed.
const raceEnabled = true
