// Package connector is Tributary's public connector SDK. It owns the
// in-flight data model ([Schema], [Batch], [Decimal]), the [Source] and
// [Destination] interfaces every connector implements, the configuration
// spec a connector declares ([Spec]), and the registry connectors add
// themselves to by name, the way database/sql drivers do.
//
// A connector lives in one folder under connectors/ and registers itself
// from an init function:
//
//	func init() {
//		connector.RegisterSource("csv", connector.SourceSpec[Config]("Reads CSV files."), New)
//	}
package connector
