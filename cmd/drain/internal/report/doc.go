// Package report renders what a drain test run recorded: it reads the plain
// []load.Result and []rollout.Event (plus a little run metadata) and writes a
// table for people, JSON for programs and a self-contained HTML page with a
// timeline chart.
//
// The flow is one way: [Summarize] condenses a run into a [Summary]; the
// writers ([WriteTable], [WriteJSON], [WriteHTML]) only read a Summary. A
// comparison of several servers is a list of [Row] values, each built from a
// Summary by [NewRow], rendered by [WriteCompareTable], [WriteCompareJSON] and
// [WriteCompareHTML].
//
// Every writer is deterministic (the same input gives the same bytes) and
// returns the first error of the io.Writer it was given; none swallows one.
// The JSON schema is described in docs/report-schema.md and versioned by
// [SchemaVersion].
package report
