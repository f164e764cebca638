package mysql

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tributary-data/tributary/connector"
)

func TestConnConfig(t *testing.T) {
	tests := []struct {
		name                 string
		conn                 Conn
		user, pass, addr, db string
		err                  string
	}{
		{name: "dsn", conn: Conn{DSN: "u:p@tcp(db.example:3307)/shop"}, user: "u", pass: "p", addr: "db.example:3307", db: "shop"},
		{name: "url", conn: Conn{URL: "mysql://u:p%40ss@db.example:3307/shop?timeout=5s"}, user: "u", pass: "p@ss", addr: "db.example:3307", db: "shop"},
		{name: "url in dsn", conn: Conn{DSN: "mysql://root@127.0.0.1/test"}, user: "root", addr: "127.0.0.1:3306", db: "test"},
		{name: "mariadb scheme", conn: Conn{URL: "mariadb://x@h/d"}, user: "x", addr: "h:3306", db: "d"},
		{name: "both", conn: Conn{DSN: "a@/b", URL: "mysql://a@h/b"}, err: "either"},
		{name: "none", err: "required"},
		{name: "bad scheme", conn: Conn{URL: "postgres://a@h/b"}, err: "scheme"},
		{name: "secret kept out of errors", conn: Conn{URL: "mysql://u:hunter2@h:bad port/d"}, err: "not a valid URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := tt.conn.config()
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || strings.Contains(err.Error(), "hunter2") {
					t.Fatalf("error %v, want one about %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.User != tt.user || cfg.Passwd != tt.pass || cfg.Addr != tt.addr || cfg.DBName != tt.db {
				t.Fatalf("config %+v", cfg)
			}
			if !cfg.ParseTime || cfg.Loc != time.UTC || cfg.Params["time_zone"] != "'+00:00'" {
				t.Fatalf("time settings not forced: %+v", cfg)
			}
		})
	}
}

func TestSpecs(t *testing.T) {
	info, ok := connector.Lookup("mysql")
	if !ok || info.Source == nil || info.Destination == nil {
		t.Fatalf("mysql not registered as source and destination: %+v", info)
	}
	for _, sp := range []*connector.Spec{info.Source, info.Destination} {
		if !slices.Equal(sp.Secrets, []string{"dsn", "url"}) {
			t.Errorf("%s secrets %v", sp.Name, sp.Secrets)
		}
	}
	if !strings.Contains(string(info.Source.Stream), `"query"`) {
		t.Errorf("stream spec %s", info.Source.Stream)
	}
}
