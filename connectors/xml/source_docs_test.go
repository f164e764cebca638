package xml

import (
	"testing"

	"github.com/tributary-data/tributary/connectors/filesource/sourcetest"
)

// Every example in the docs is run: its config must build the source and
// its streams' settings must be accepted.
func TestSourceDocExamples(t *testing.T) {
	sourcetest.CheckDocExamples(t, "../../docs/connectors/xml.md", "xml")
}
