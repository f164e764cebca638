// Package salesforce is the Salesforce source, built on the rest source as
// a shipped configuration: OAuth2 (client credentials or refresh token)
// against the org's token endpoint, with the API base taken from the
// token's instance_url; one stream per sObject, its fields and types from
// the describe call; SOQL queries paged by nextRecordsUrl and made
// incremental on SystemModstamp; and Bulk API 2.0 query jobs (create, poll,
// CSV results paged by Sforce-Locator) for large objects.
package salesforce
