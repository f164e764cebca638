// Package hubspot is the HubSpot source, built on the rest source as a
// shipped configuration: CRM v3 objects (contacts, companies, deals, any
// object type) listed with `after` paging, their properties and types from
// the properties API, incremental syncs through the search endpoint with
// a last-modified filter (restarting the search before its 10,000-result
// limit), and associations to other object types.
package hubspot
