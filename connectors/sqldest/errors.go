package sqldest

import "errors"

// ErrSchemaFrozen is returned when a batch's schema differs from the table
// and the load's schema policy is freeze.
var ErrSchemaFrozen = errors.New("schema changed under the freeze policy")
