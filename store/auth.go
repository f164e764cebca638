package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// AuthStore keeps users, login sessions with their refresh tokens, API
// tokens and one-time tokens. Every token is stored as a hash only; the
// caller hashes (see package auth), so the store never sees a token.
type AuthStore interface {
	CreateUser(ctx context.Context, u *User) error
	User(ctx context.Context, id string) (*User, error)
	// UserByEmail finds a user by e-mail address, case-insensitively.
	UserByEmail(ctx context.Context, email string) (*User, error)
	Users(ctx context.Context, page Page) ([]User, error)
	CountUsers(ctx context.Context) (int, error)
	// UpdateUser replaces email, name, role, disabled and email_verified of
	// the user with u.ID.
	UpdateUser(ctx context.Context, u *User) error
	SetUserPassword(ctx context.Context, id, hash string) error
	SetUserLastLogin(ctx context.Context, id string, at time.Time) error
	// DeleteUser removes the user, its sessions and API tokens.
	DeleteUser(ctx context.Context, id string) error

	// CreateSession stores a new session with its first refresh token.
	CreateSession(ctx context.Context, sess *Session, refreshHash string) error
	// RotateRefreshToken exchanges the refresh token with hash oldHash for
	// one with hash newHash and returns its session. A token used before
	// revokes its whole session and returns [ErrTokenReused]; an unknown
	// token, or one of a revoked or timed-out session, returns
	// [ErrNotFound]. idle is the idle timeout of sessions.
	RotateRefreshToken(ctx context.Context, oldHash, newHash string, at time.Time, idle time.Duration) (*Session, error)
	Session(ctx context.Context, id string) (*Session, error)
	// Sessions lists the user's live sessions, newest first.
	Sessions(ctx context.Context, userID string) ([]Session, error)
	// RevokeSession ends one session of the user.
	RevokeSession(ctx context.Context, userID, id string) error
	// RevokeSessions ends every session of the user and returns how many.
	RevokeSessions(ctx context.Context, userID string) (int, error)

	CreateAPIToken(ctx context.Context, t *APIToken) error
	// APITokenByHash finds a live (not revoked) token.
	APITokenByHash(ctx context.Context, hash string) (*APIToken, error)
	// APITokens lists tokens; of one user when userID is set.
	APITokens(ctx context.Context, userID string, page Page) ([]APIToken, error)
	APIToken(ctx context.Context, id string) (*APIToken, error)
	RevokeAPIToken(ctx context.Context, id string) error
	TouchAPIToken(ctx context.Context, id string, at time.Time) error

	CreateOneTimeToken(ctx context.Context, t *OneTimeToken) error
	// UseOneTimeToken consumes the token with the hash for purpose and
	// returns its user id. A used, expired or unknown token returns
	// [ErrNotFound].
	UseOneTimeToken(ctx context.Context, hash, purpose string, at time.Time) (string, error)

	// UserByIdentity finds the user linked to the subject of an external
	// identity provider (single sign-on); [ErrNotFound] when none is.
	UserByIdentity(ctx context.Context, issuer, subject string) (*User, error)
	// LinkIdentity links the provider's subject to the user; a subject
	// linked already returns [ErrConflict].
	LinkIdentity(ctx context.Context, userID, issuer, subject string) error
}

// ErrTokenReused means a rotated refresh token was presented again: its
// session has been revoked.
var ErrTokenReused = errors.New("refresh token reused; session revoked")

// Role is what a user or API token may do.
type Role string

// Roles, from least to most.
const (
	RoleViewer Role = "viewer"
	RoleEditor Role = "editor"
	RoleAdmin  Role = "admin"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleViewer || r == RoleEditor || r == RoleAdmin }

// Rank orders roles: viewer 1, editor 2, admin 3, unknown 0.
func (r Role) Rank() int {
	switch r {
	case RoleViewer:
		return 1
	case RoleEditor:
		return 2
	case RoleAdmin:
		return 3
	}
	return 0
}

// User is a person who logs in.
type User struct {
	ID            string     `json:"id"`
	Email         string     `json:"email"`
	Name          string     `json:"name"`
	Role          Role       `json:"role" enum:"viewer,editor,admin"`
	Disabled      bool       `json:"disabled"`
	EmailVerified bool       `json:"email_verified"`
	PasswordHash  string     `json:"-"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
	LastLoginAt   *time.Time `json:"last_login_at,omitempty"`
}

// Session is one login: its refresh tokens form one family.
type Session struct {
	ID         string     `json:"id"`
	UserID     string     `json:"user_id"`
	IP         string     `json:"ip"`
	UserAgent  string     `json:"user_agent"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt time.Time  `json:"last_used_at"`
	ExpiresAt  time.Time  `json:"expires_at" doc:"Absolute end of the session"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

// APIToken is a named, role-scoped credential for automation.
type APIToken struct {
	ID         string     `json:"id"`
	UserID     string     `json:"user_id"`
	Name       string     `json:"name"`
	Role       Role       `json:"role" enum:"viewer,editor,admin"`
	Hash       string     `json:"-"`
	Prefix     string     `json:"prefix" doc:"The token's first characters, to recognise it"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

// OneTimeToken is a single-use token of a password reset or e-mail
// verification.
type OneTimeToken struct {
	Hash      string
	UserID    string
	Purpose   string
	ExpiresAt time.Time
}

var authMigration = migration{
	sqlite: []string{
		`CREATE TABLE users (
				id TEXT PRIMARY KEY,
				email TEXT NOT NULL UNIQUE,
				name TEXT NOT NULL DEFAULT '',
				role TEXT NOT NULL,
				disabled BOOLEAN NOT NULL DEFAULT FALSE,
				email_verified BOOLEAN NOT NULL DEFAULT FALSE,
				password_hash TEXT NOT NULL DEFAULT '',
				created_at TIMESTAMP NOT NULL,
				updated_at TIMESTAMP NOT NULL,
				last_login_at TIMESTAMP)`,
		`CREATE TABLE auth_sessions (
				id TEXT PRIMARY KEY,
				user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
				ip TEXT NOT NULL DEFAULT '',
				user_agent TEXT NOT NULL DEFAULT '',
				created_at TIMESTAMP NOT NULL,
				last_used_at TIMESTAMP NOT NULL,
				expires_at TIMESTAMP NOT NULL,
				revoked_at TIMESTAMP)`,
		`CREATE INDEX auth_sessions_user ON auth_sessions (user_id)`,
		`CREATE TABLE refresh_tokens (
				hash TEXT PRIMARY KEY,
				session_id TEXT NOT NULL REFERENCES auth_sessions(id) ON DELETE CASCADE,
				created_at TIMESTAMP NOT NULL,
				used_at TIMESTAMP)`,
		`CREATE TABLE api_tokens (
				id TEXT PRIMARY KEY,
				user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
				name TEXT NOT NULL,
				role TEXT NOT NULL,
				hash TEXT NOT NULL UNIQUE,
				prefix TEXT NOT NULL,
				created_at TIMESTAMP NOT NULL,
				expires_at TIMESTAMP,
				last_used_at TIMESTAMP,
				revoked_at TIMESTAMP)`,
		`CREATE TABLE one_time_tokens (
				hash TEXT PRIMARY KEY,
				user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
				purpose TEXT NOT NULL,
				expires_at TIMESTAMP NOT NULL,
				used_at TIMESTAMP)`,
	},
	postgres: []string{
		`CREATE TABLE users (
				id TEXT PRIMARY KEY,
				email TEXT NOT NULL UNIQUE,
				name TEXT NOT NULL DEFAULT '',
				role TEXT NOT NULL,
				disabled BOOLEAN NOT NULL DEFAULT FALSE,
				email_verified BOOLEAN NOT NULL DEFAULT FALSE,
				password_hash TEXT NOT NULL DEFAULT '',
				created_at TIMESTAMPTZ NOT NULL,
				updated_at TIMESTAMPTZ NOT NULL,
				last_login_at TIMESTAMPTZ)`,
		`CREATE TABLE auth_sessions (
				id TEXT PRIMARY KEY,
				user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
				ip TEXT NOT NULL DEFAULT '',
				user_agent TEXT NOT NULL DEFAULT '',
				created_at TIMESTAMPTZ NOT NULL,
				last_used_at TIMESTAMPTZ NOT NULL,
				expires_at TIMESTAMPTZ NOT NULL,
				revoked_at TIMESTAMPTZ)`,
		`CREATE INDEX auth_sessions_user ON auth_sessions (user_id)`,
		`CREATE TABLE refresh_tokens (
				hash TEXT PRIMARY KEY,
				session_id TEXT NOT NULL REFERENCES auth_sessions(id) ON DELETE CASCADE,
				created_at TIMESTAMPTZ NOT NULL,
				used_at TIMESTAMPTZ)`,
		`CREATE TABLE api_tokens (
				id TEXT PRIMARY KEY,
				user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
				name TEXT NOT NULL,
				role TEXT NOT NULL,
				hash TEXT NOT NULL UNIQUE,
				prefix TEXT NOT NULL,
				created_at TIMESTAMPTZ NOT NULL,
				expires_at TIMESTAMPTZ,
				last_used_at TIMESTAMPTZ,
				revoked_at TIMESTAMPTZ)`,
		`CREATE TABLE one_time_tokens (
				hash TEXT PRIMARY KEY,
				user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
				purpose TEXT NOT NULL,
				expires_at TIMESTAMPTZ NOT NULL,
				used_at TIMESTAMPTZ)`,
	},
}

const userCols = `id, email, name, role, disabled, email_verified, password_hash, created_at, updated_at, last_login_at`

func scanUser(r interface{ Scan(...any) error }) (*User, error) {
	var u User
	var last sql.NullTime
	if err := r.Scan(&u.ID, &u.Email, &u.Name, &u.Role, &u.Disabled, &u.EmailVerified, &u.PasswordHash, &u.CreatedAt, &u.UpdatedAt, &last); err != nil {
		return nil, err
	}
	u.CreatedAt, u.UpdatedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC()
	u.LastLoginAt = timePtr(last)
	return &u, nil
}

func (s *sqlStore) CreateUser(ctx context.Context, u *User) error {
	u.ID = uuid.NewString()
	u.Email = strings.ToLower(strings.TrimSpace(u.Email))
	u.CreatedAt = now()
	u.UpdatedAt = u.CreatedAt
	_, err := s.exec(ctx, s.q(`INSERT INTO users (`+userCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)`),
		u.ID, u.Email, u.Name, string(u.Role), u.Disabled, u.EmailVerified, u.PasswordHash, u.CreatedAt, u.UpdatedAt)
	if isUnique(err) {
		return fmt.Errorf("user %s: %w", u.Email, ErrConflict)
	}
	return err
}

func (s *sqlStore) User(ctx context.Context, id string) (*User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, s.q(`SELECT `+userCols+` FROM users WHERE id = ?`), id))
	return u, notFound(err, "user "+id)
}

func (s *sqlStore) UserByEmail(ctx context.Context, email string) (*User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, s.q(`SELECT `+userCols+` FROM users WHERE email = ?`), strings.ToLower(strings.TrimSpace(email))))
	return u, notFound(err, "user "+email)
}

func (s *sqlStore) Users(ctx context.Context, page Page) ([]User, error) {
	page = page.norm()
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+userCols+` FROM users ORDER BY email LIMIT ? OFFSET ?`), page.Limit, page.Offset)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *u)
	}
	return out, rows.Err()
}

func (s *sqlStore) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n)
	return n, err
}

func (s *sqlStore) UpdateUser(ctx context.Context, u *User) error {
	u.Email = strings.ToLower(strings.TrimSpace(u.Email))
	u.UpdatedAt = now()
	res, err := s.exec(ctx, s.q(`UPDATE users SET email = ?, name = ?, role = ?, disabled = ?, email_verified = ?, updated_at = ? WHERE id = ?`),
		u.Email, u.Name, string(u.Role), u.Disabled, u.EmailVerified, u.UpdatedAt, u.ID)
	if isUnique(err) {
		return fmt.Errorf("user %s: %w", u.Email, ErrConflict)
	}
	return affected(res, err, "user "+u.ID)
}

func (s *sqlStore) SetUserPassword(ctx context.Context, id, hash string) error {
	res, err := s.exec(ctx, s.q(`UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?`), hash, now(), id)
	return affected(res, err, "user "+id)
}

func (s *sqlStore) SetUserLastLogin(ctx context.Context, id string, at time.Time) error {
	res, err := s.exec(ctx, s.q(`UPDATE users SET last_login_at = ? WHERE id = ?`), at.UTC(), id)
	return affected(res, err, "user "+id)
}

func (s *sqlStore) DeleteUser(ctx context.Context, id string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		// SQLite enforces the cascades only with foreign_keys on; delete
		// the dependants explicitly so both stores behave alike.
		for _, q := range []string{
			`DELETE FROM refresh_tokens WHERE session_id IN (SELECT id FROM auth_sessions WHERE user_id = ?)`,
			`DELETE FROM auth_sessions WHERE user_id = ?`,
			`DELETE FROM api_tokens WHERE user_id = ?`,
			`DELETE FROM one_time_tokens WHERE user_id = ?`,
			`DELETE FROM user_identities WHERE user_id = ?`,
		} {
			if _, err := tx.ExecContext(ctx, s.q(q), id); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, s.q(`DELETE FROM users WHERE id = ?`), id)
		return affected(res, err, "user "+id)
	})
}

// Sessions.

const sessionCols = `id, user_id, ip, user_agent, created_at, last_used_at, expires_at, revoked_at`

func scanSession(r interface{ Scan(...any) error }) (*Session, error) {
	var ss Session
	var revoked sql.NullTime
	if err := r.Scan(&ss.ID, &ss.UserID, &ss.IP, &ss.UserAgent, &ss.CreatedAt, &ss.LastUsedAt, &ss.ExpiresAt, &revoked); err != nil {
		return nil, err
	}
	ss.CreatedAt, ss.LastUsedAt, ss.ExpiresAt = ss.CreatedAt.UTC(), ss.LastUsedAt.UTC(), ss.ExpiresAt.UTC()
	ss.RevokedAt = timePtr(revoked)
	return &ss, nil
}

func (s *sqlStore) CreateSession(ctx context.Context, sess *Session, refreshHash string) error {
	sess.ID = uuid.NewString()
	sess.CreatedAt = now()
	sess.LastUsedAt = sess.CreatedAt
	sess.ExpiresAt = sess.ExpiresAt.UTC()
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO auth_sessions (`+sessionCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)`),
			sess.ID, sess.UserID, sess.IP, sess.UserAgent, sess.CreatedAt, sess.LastUsedAt, sess.ExpiresAt); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO refresh_tokens (hash, session_id, created_at) VALUES (?, ?, ?)`), refreshHash, sess.ID, sess.CreatedAt)
		return err
	})
}

func (s *sqlStore) RotateRefreshToken(ctx context.Context, oldHash, newHash string, at time.Time, idle time.Duration) (*Session, error) {
	at = at.UTC().Truncate(time.Microsecond)
	var out *Session
	reused := false
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var sid string
		var used sql.NullTime
		err := tx.QueryRowContext(ctx, s.q(`SELECT session_id, used_at FROM refresh_tokens WHERE hash = ?`), oldHash).Scan(&sid, &used)
		if err != nil {
			return notFound(err, "refresh token")
		}
		sess, err := scanSession(tx.QueryRowContext(ctx, s.q(`SELECT `+sessionCols+` FROM auth_sessions WHERE id = ?`), sid))
		if err != nil {
			return notFound(err, "session")
		}
		if used.Valid {
			// A rotated token presented again: someone holds a copy.
			// The revocation must commit, so the error is returned after.
			reused = true
			_, err := tx.ExecContext(ctx, s.q(`UPDATE auth_sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`), at, sid)
			return err
		}
		if sess.RevokedAt != nil || !at.Before(sess.ExpiresAt) || (idle > 0 && at.Sub(sess.LastUsedAt) > idle) {
			return fmt.Errorf("session %s ended: %w", sid, ErrNotFound)
		}
		res, err := tx.ExecContext(ctx, s.q(`UPDATE refresh_tokens SET used_at = ? WHERE hash = ? AND used_at IS NULL`), at, oldHash)
		if err := affected(res, err, "refresh token"); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO refresh_tokens (hash, session_id, created_at) VALUES (?, ?, ?)`), newHash, sid, at); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE auth_sessions SET last_used_at = ? WHERE id = ?`), at, sid); err != nil {
			return err
		}
		sess.LastUsedAt = at
		out = sess
		return nil
	})
	if err != nil {
		return nil, err
	}
	if reused {
		return nil, ErrTokenReused
	}
	return out, nil
}

func (s *sqlStore) Session(ctx context.Context, id string) (*Session, error) {
	ss, err := scanSession(s.db.QueryRowContext(ctx, s.q(`SELECT `+sessionCols+` FROM auth_sessions WHERE id = ?`), id))
	return ss, notFound(err, "session "+id)
}

func (s *sqlStore) Sessions(ctx context.Context, userID string) ([]Session, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+sessionCols+` FROM auth_sessions WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ? ORDER BY created_at DESC`), userID, now())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Session{}
	for rows.Next() {
		ss, err := scanSession(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *ss)
	}
	return out, rows.Err()
}

func (s *sqlStore) RevokeSession(ctx context.Context, userID, id string) error {
	res, err := s.exec(ctx, s.q(`UPDATE auth_sessions SET revoked_at = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL`), now(), id, userID)
	return affected(res, err, "session "+id)
}

func (s *sqlStore) RevokeSessions(ctx context.Context, userID string) (int, error) {
	res, err := s.exec(ctx, s.q(`UPDATE auth_sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL`), now(), userID)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// API tokens.

const tokenCols = `id, user_id, name, role, hash, prefix, created_at, expires_at, last_used_at, revoked_at`

func scanToken(r interface{ Scan(...any) error }) (*APIToken, error) {
	var t APIToken
	var exp, last, revoked sql.NullTime
	if err := r.Scan(&t.ID, &t.UserID, &t.Name, &t.Role, &t.Hash, &t.Prefix, &t.CreatedAt, &exp, &last, &revoked); err != nil {
		return nil, err
	}
	t.CreatedAt = t.CreatedAt.UTC()
	t.ExpiresAt, t.LastUsedAt, t.RevokedAt = timePtr(exp), timePtr(last), timePtr(revoked)
	return &t, nil
}

func (s *sqlStore) CreateAPIToken(ctx context.Context, t *APIToken) error {
	t.ID = uuid.NewString()
	t.CreatedAt = now()
	var exp any
	if t.ExpiresAt != nil {
		e := t.ExpiresAt.UTC().Truncate(time.Microsecond)
		t.ExpiresAt = &e
		exp = e
	}
	_, err := s.exec(ctx, s.q(`INSERT INTO api_tokens (`+tokenCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)`),
		t.ID, t.UserID, t.Name, string(t.Role), t.Hash, t.Prefix, t.CreatedAt, exp)
	return err
}

func (s *sqlStore) APITokenByHash(ctx context.Context, hash string) (*APIToken, error) {
	t, err := scanToken(s.db.QueryRowContext(ctx, s.q(`SELECT `+tokenCols+` FROM api_tokens WHERE hash = ? AND revoked_at IS NULL`), hash))
	return t, notFound(err, "api token")
}

func (s *sqlStore) APIToken(ctx context.Context, id string) (*APIToken, error) {
	t, err := scanToken(s.db.QueryRowContext(ctx, s.q(`SELECT `+tokenCols+` FROM api_tokens WHERE id = ?`), id))
	return t, notFound(err, "api token "+id)
}

func (s *sqlStore) APITokens(ctx context.Context, userID string, page Page) ([]APIToken, error) {
	page = page.norm()
	q, args := `SELECT `+tokenCols+` FROM api_tokens`, []any{}
	if userID != "" {
		q += ` WHERE user_id = ?`
		args = append(args, userID)
	}
	q += ` ORDER BY created_at DESC, id LIMIT ? OFFSET ?`
	rows, err := s.db.QueryContext(ctx, s.q(q), append(args, page.Limit, page.Offset)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []APIToken{}
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *t)
	}
	return out, rows.Err()
}

func (s *sqlStore) RevokeAPIToken(ctx context.Context, id string) error {
	res, err := s.exec(ctx, s.q(`UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`), now(), id)
	return affected(res, err, "api token "+id)
}

func (s *sqlStore) TouchAPIToken(ctx context.Context, id string, at time.Time) error {
	_, err := s.exec(ctx, s.q(`UPDATE api_tokens SET last_used_at = ? WHERE id = ?`), at.UTC().Truncate(time.Microsecond), id)
	return err
}

// One-time tokens.

func (s *sqlStore) CreateOneTimeToken(ctx context.Context, t *OneTimeToken) error {
	_, err := s.exec(ctx, s.q(`INSERT INTO one_time_tokens (hash, user_id, purpose, expires_at) VALUES (?, ?, ?, ?)`),
		t.Hash, t.UserID, t.Purpose, t.ExpiresAt.UTC())
	return err
}

func (s *sqlStore) UseOneTimeToken(ctx context.Context, hash, purpose string, at time.Time) (string, error) {
	var uid string
	err := s.tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, s.q(`SELECT user_id FROM one_time_tokens WHERE hash = ? AND purpose = ? AND used_at IS NULL AND expires_at > ?`),
			hash, purpose, at.UTC()).Scan(&uid)
		if err != nil {
			return notFound(err, purpose+" token")
		}
		res, err := tx.ExecContext(ctx, s.q(`UPDATE one_time_tokens SET used_at = ? WHERE hash = ? AND used_at IS NULL`), at.UTC(), hash)
		return affected(res, err, purpose+" token")
	})
	return uid, err
}

// Sealer encrypts the secret fields of stored configs (see package
// secrets); the store calls it on every write and read of a connection or
// alert channel config.
type Sealer interface {
	// Seal returns a copy of cfg with the secret fields of kind
	// ("connection" or "alert_channel") and type encrypted.
	Seal(kind, typ string, cfg map[string]any) (map[string]any, error)
	// Open decrypts the encrypted values of cfg in place; what names the
	// record in errors.
	Open(what string, cfg map[string]any) error
}

func (s *sqlStore) sealConfig(kind, typ string, cfg map[string]any) ([]byte, error) {
	cfg = orEmpty(cfg)
	if s.sealer != nil {
		var err error
		if cfg, err = s.sealer.Seal(kind, typ, cfg); err != nil {
			return nil, err
		}
	}
	return json.Marshal(cfg)
}

func (s *sqlStore) openConfig(what string, cfg map[string]any) error {
	if s.sealer == nil {
		return nil
	}
	return s.sealer.Open(what, cfg)
}

// identityMigration links users to the subjects of external identity
// providers; a subject is stable where e-mail addresses are not.
var identityMigration = portable(
	`CREATE TABLE user_identities (
		issuer TEXT NOT NULL,
		subject TEXT NOT NULL,
		user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
		created_at TIMESTAMP NOT NULL,
		PRIMARY KEY (issuer, subject))`,
	`CREATE INDEX user_identities_user ON user_identities (user_id)`,
)

func (s *sqlStore) UserByIdentity(ctx context.Context, issuer, subject string) (*User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, s.q(`SELECT `+userCols+` FROM users
		WHERE id = (SELECT user_id FROM user_identities WHERE issuer = ? AND subject = ?)`), issuer, subject))
	return u, notFound(err, "identity "+subject+" of "+issuer)
}

func (s *sqlStore) LinkIdentity(ctx context.Context, userID, issuer, subject string) error {
	_, err := s.exec(ctx, s.q(`INSERT INTO user_identities (issuer, subject, user_id, created_at) VALUES (?, ?, ?, ?)`),
		issuer, subject, userID, now())
	if isUnique(err) {
		return fmt.Errorf("identity %s of %s: %w", subject, issuer, ErrConflict)
	}
	return err
}
