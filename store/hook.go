package store

import "github.com/sgxops/sgxops/audit"

// Txn is one transaction of a Store implemented outside this package (the
// Kubernetes store): ApplyChange runs the same checks, revision and audit
// sealing as the bbolt and memory stores on it. Reads must see the
// transaction's own writes. Every check and fallible computation happens
// before the first write, so an implementation may buffer the writes and
// make them durable in one step after ApplyChange returns.
type Txn interface {
	GetRelease(app, name string) (ReleaseRecord, bool, error)
	ListReleases(app string) ([]ReleaseRecord, error)
	GetPolicy(typ string) (PolicyRecord, bool, error)
	GetPolicyCerts() (PolicyCertsRecord, error)
	Revision() (uint64, error)
	Head() (audit.Head, error)

	PutRelease(ReleaseRecord) error
	PutPolicy(PolicyRecord) error
	DeletePolicy(typ string) error
	PutPolicyCerts(PolicyCertsRecord) error
	AppendEntry(audit.Entry) error
	SetRevision(uint64) error
	SetHead(audit.Head) error
}

// CheckChange validates ch without looking at stored data (what Commit
// checks first): ErrInvalidChange when malformed.
func CheckChange(ch Change) error { return checkChange(ch) }

// ApplyChange checks ch (CheckChange, then guards and expected revisions
// against tx) and writes it to tx: the shared logic of Store.Commit.
func ApplyChange(tx Txn, ch Change) (Committed, error) {
	if err := checkChange(ch); err != nil {
		return Committed{}, err
	}
	if a, ok := tx.(AppRevisionTxn); ok {
		return applyChange(exportedRevTxn{exportedTxn{tx}, a}, ch)
	}
	return applyChange(exportedTxn{tx}, ch)
}

// AppRevisionTxn is implemented by a Txn that reads an app's revision (what
// AppRevision of its releases returns) without listing them; ApplyChange
// then checks guards with it.
type AppRevisionTxn interface {
	AppRevision(app string) (uint64, error)
}

type exportedRevTxn struct {
	exportedTxn
	a AppRevisionTxn
}

func (x exportedRevTxn) appRevision(app string) (uint64, error) { return x.a.AppRevision(app) }

// exportedTxn adapts a Txn to the package's txn.
type exportedTxn struct{ t Txn }

func (x exportedTxn) getRelease(app, name string) (ReleaseRecord, bool, error) {
	return x.t.GetRelease(app, name)
}
func (x exportedTxn) listReleases(app string) ([]ReleaseRecord, error) { return x.t.ListReleases(app) }
func (x exportedTxn) getPolicy(typ string) (PolicyRecord, bool, error) { return x.t.GetPolicy(typ) }
func (x exportedTxn) getPolicyCerts() (PolicyCertsRecord, error)       { return x.t.GetPolicyCerts() }
func (x exportedTxn) revision() (uint64, error)                        { return x.t.Revision() }
func (x exportedTxn) head() (audit.Head, error)                        { return x.t.Head() }
func (x exportedTxn) putRelease(r ReleaseRecord) error                 { return x.t.PutRelease(r) }
func (x exportedTxn) putPolicy(p PolicyRecord) error                   { return x.t.PutPolicy(p) }
func (x exportedTxn) deletePolicy(typ string) error                    { return x.t.DeletePolicy(typ) }
func (x exportedTxn) putPolicyCerts(r PolicyCertsRecord) error         { return x.t.PutPolicyCerts(r) }
func (x exportedTxn) appendEntry(e audit.Entry) error                  { return x.t.AppendEntry(e) }
func (x exportedTxn) setRevision(r uint64) error                       { return x.t.SetRevision(r) }
func (x exportedTxn) setHead(h audit.Head) error                       { return x.t.SetHead(h) }
