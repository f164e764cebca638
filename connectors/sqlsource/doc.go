// Package sqlsource reads tables and custom queries out of any database
// reachable through database/sql. It owns discovery (through a small
// [Dialect]), keyset-paginated incremental reads ordered by cursor and
// primary key so ties on the cursor are never skipped, the state those
// reads checkpoint, and the conversion of driver values into SDK types.
// The mysql, sqlite and postgres connectors plug their dialect into it.
package sqlsource
