// Package mysql is the MySQL and MariaDB connector (go-sql-driver/mysql).
// The source reads tables and queries through sqlsource with MySQL's
// dialect (backtick quoting, information_schema discovery, TINYINT(1) as
// bool); the destination loads through sqldest with multi-row inserts,
// ON DUPLICATE KEY UPDATE merges and RENAME TABLE swaps. Connections always
// run with parseTime, UTC and a UTC session time zone.
package mysql
