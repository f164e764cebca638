package auth

import (
	"sync"
	"time"
)

// Limiter counts failed logins per key (an account or an IP address) in a
// sliding window and locks a key out for a while once it reaches the
// limit. It lives in the process: several API servers each count their
// own share, which still bounds guessing.
type Limiter struct {
	// Max failures within Window before a lockout of Lockout.
	Max     int
	Window  time.Duration
	Lockout time.Duration
	Now     func() time.Time

	mu   sync.Mutex
	keys map[string]*limitState
}

type limitState struct {
	fails       []time.Time
	lockedUntil time.Time
}

// NewLimiter returns a limiter of max failures per window, locking out
// for lockout.
func NewLimiter(max int, window, lockout time.Duration) *Limiter {
	return &Limiter{Max: max, Window: window, Lockout: lockout, Now: time.Now, keys: map[string]*limitState{}}
}

// Locked reports whether the key is locked out, and until when.
func (l *Limiter) Locked(key string) (bool, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.keys[key]
	if st == nil {
		return false, time.Time{}
	}
	if l.Now().Before(st.lockedUntil) {
		return true, st.lockedUntil
	}
	return false, time.Time{}
}

// Fail records a failure of the key.
func (l *Limiter) Fail(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.Now()
	st := l.keys[key]
	if st == nil {
		st = &limitState{}
		l.keys[key] = st
	}
	kept := st.fails[:0]
	for _, t := range st.fails {
		if now.Sub(t) < l.Window {
			kept = append(kept, t)
		}
	}
	st.fails = append(kept, now)
	if len(st.fails) >= l.Max {
		st.lockedUntil = now.Add(l.Lockout)
		st.fails = nil
	}
	// Forget idle keys so the map cannot grow without bound.
	if len(l.keys) > 100_000 {
		for k, s := range l.keys {
			if len(s.fails) == 0 && now.After(s.lockedUntil) {
				delete(l.keys, k)
			}
		}
	}
}

// Reset forgets the key's failures (after a successful login).
func (l *Limiter) Reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.keys, key)
}
