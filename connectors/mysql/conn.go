package mysql

import (
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Conn holds the connection settings both sides share. The configs repeat
// its fields rather than embed it: connector.NewSpec marks secrets only
// among a config's own fields.
type Conn struct {
	DSN string
	URL string
}

// config parses the connection settings into a driver config with the
// settings tributary relies on forced: times parsed and in UTC both ways.
func (c Conn) config() (*mysql.Config, error) {
	var cfg *mysql.Config
	switch {
	case c.DSN != "" && c.URL != "":
		return nil, errors.New("set either dsn or url, not both")
	case c.DSN != "":
		if strings.HasPrefix(c.DSN, "mysql://") || strings.HasPrefix(c.DSN, "mariadb://") {
			return urlConfig(c.DSN)
		}
		var err error
		if cfg, err = mysql.ParseDSN(c.DSN); err != nil {
			return nil, fmt.Errorf("dsn: %w", err)
		}
	case c.URL != "":
		return urlConfig(c.URL)
	default:
		return nil, errors.New("dsn or url is required")
	}
	return force(cfg), nil
}

func urlConfig(raw string) (*mysql.Config, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// The parse error quotes the URL, password included.
		return nil, errors.New("url: not a valid URL")
	}
	if u.Scheme != "mysql" && u.Scheme != "mariadb" {
		return nil, fmt.Errorf("url: scheme %q, want mysql://", u.Scheme)
	}
	cfg := mysql.NewConfig()
	cfg.Net = "tcp"
	host, port := u.Hostname(), u.Port()
	if host == "" {
		host = "127.0.0.1"
	}
	if port == "" {
		port = "3306"
	}
	cfg.Addr = net.JoinHostPort(host, port)
	if u.User != nil {
		cfg.User = u.User.Username()
		cfg.Passwd, _ = u.User.Password()
	}
	cfg.DBName = strings.TrimPrefix(u.Path, "/")
	for k, vs := range u.Query() {
		if len(vs) > 0 {
			// Round-trip through the DSN parser so driver options
			// (tls, timeout…) are honoured, not sent as session variables.
			probe, err := mysql.ParseDSN("/?" + url.Values{k: vs}.Encode())
			if err != nil {
				return nil, fmt.Errorf("url parameter %s: %w", k, err)
			}
			mergeParams(cfg, probe)
		}
	}
	return force(cfg), nil
}

func mergeParams(dst, src *mysql.Config) {
	def := mysql.NewConfig()
	if src.TLSConfig != def.TLSConfig {
		dst.TLSConfig = src.TLSConfig
	}
	if src.Timeout != def.Timeout {
		dst.Timeout = src.Timeout
	}
	if src.ReadTimeout != def.ReadTimeout {
		dst.ReadTimeout = src.ReadTimeout
	}
	if src.WriteTimeout != def.WriteTimeout {
		dst.WriteTimeout = src.WriteTimeout
	}
	if src.Collation != def.Collation {
		dst.Collation = src.Collation
	}
	for k, v := range src.Params {
		if dst.Params == nil {
			dst.Params = map[string]string{}
		}
		dst.Params[k] = v
	}
}

func force(cfg *mysql.Config) *mysql.Config {
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["time_zone"] = "'+00:00'"
	return cfg
}

// open opens a pool for cfg.
func open(cfg *mysql.Config) (*sql.DB, error) {
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	return sql.OpenDB(conn), nil
}
