// Package job is one prune job, the same for every front end: the options
// a user sets (one type, one set of defaults, one validation), and the
// sequence Plan → Export → Verify → Evaluate → Commit that turns a model
// folder into a verified expert. The CLI (package cli) maps flags onto
// Options and the browser app (wasm/js/app) maps a JavaScript object onto
// them; neither holds any of the job's logic, so the same options give the
// same bytes and the same numbers everywhere.
package job
