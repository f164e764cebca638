package mysql

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"testing"

	"github.com/go-sql-driver/mysql"
)

// testServer is the MariaDB the tests use; TRIBUTARY_TEST_MYSQL overrides it.
func testServer() string {
	if s := os.Getenv("TRIBUTARY_TEST_MYSQL"); s != "" {
		return s
	}
	return "root@tcp(127.0.0.1:3306)/"
}

// newDatabase creates a database only this test uses and drops it at the
// end; it returns a DSN for it.
func newDatabase(t testing.TB) string {
	t.Helper()
	admin, err := sql.Open("mysql", testServer())
	if err == nil {
		err = admin.Ping()
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("mariadb: %v", err)
		}
		t.Skipf("mariadb not reachable (%v); set CI to make this a failure", err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	name := "tributary_test_" + hex.EncodeToString(b)
	if _, err := admin.Exec("CREATE DATABASE `" + name + "` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin.Exec("DROP DATABASE `" + name + "`")
		admin.Close()
	})
	cfg, err := mysql.ParseDSN(testServer())
	if err != nil {
		t.Fatal(err)
	}
	cfg.DBName = name
	return cfg.FormatDSN()
}
