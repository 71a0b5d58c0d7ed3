package attestd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
)

// secretKeyStore keeps the key set in one Secret, shared by every replica:
// its data keys are the file names of the data directory. Every write is
// one Create (first start) or one Update with the resourceVersion read
// (a precondition), so a write is all or nothing and a replica that lost a
// race re-reads instead of overwriting.
type secretKeyStore struct {
	secrets corev1client.SecretInterface
	ns      string
	name    string
	// observe, when set, is told the duration and error of every API call
	// (op "secret-get", "secret-create", "secret-update").
	observe func(op string, d time.Duration, err error)
}

// Labels of the signing-key Secret.
var keySecretLabels = map[string]string{
	"app.kubernetes.io/name":       "attestd",
	"app.kubernetes.io/component":  "signing-key",
	"app.kubernetes.io/managed-by": "attestd",
}

func (s *secretKeyStore) where(name string) string {
	return "Secret " + s.ns + "/" + s.name + " key " + name
}

func (s *secretKeyStore) track(op string, start time.Time, err error) {
	if s.observe != nil {
		s.observe(op, time.Since(start), err)
	}
}

func (s *secretKeyStore) read(ctx context.Context) (keyBlobs, string, error) {
	start := time.Now()
	sec, err := s.secrets.Get(ctx, s.name, metav1.GetOptions{})
	s.track("secret-get", start, err)
	if apierrors.IsNotFound(err) {
		return keyBlobs{}, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("attestd: reading Secret %s/%s: %w", s.ns, s.name, err)
	}
	return blobsOf(sec), sec.ResourceVersion, nil
}

// blobsOf returns the key-set blobs of a Secret (other keys are ignored).
func blobsOf(sec *corev1.Secret) keyBlobs {
	out := keyBlobs{}
	for _, name := range keySetOrder {
		if b, ok := sec.Data[name]; ok {
			out[name] = b
		}
	}
	return out
}

func (s *secretKeyStore) write(ctx context.Context, want, have keyBlobs, version string) ([]string, string, error) {
	var names []string
	for _, name := range keySetOrder {
		if b, ok := want[name]; ok && (have[name] == nil || !bytes.Equal(b, have[name])) {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return nil, version, nil
	}
	start := time.Now()
	if version == "" {
		sec := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: s.name, Namespace: s.ns, Labels: keySecretLabels},
			Type:       corev1.SecretTypeOpaque,
			Data:       maps.Clone(want),
		}
		got, err := s.secrets.Create(ctx, sec, metav1.CreateOptions{FieldManager: "attestd"})
		s.track("secret-create", start, err)
		if apierrors.IsAlreadyExists(err) {
			return nil, "", fmt.Errorf("%w (Secret %s/%s was created concurrently)", errKeySetChanged, s.ns, s.name)
		}
		if err != nil {
			return nil, "", fmt.Errorf("attestd: creating Secret %s/%s: %w", s.ns, s.name, err)
		}
		return names, got.ResourceVersion, nil
	}
	// Update the Secret as read (other data keys, labels and annotations
	// kept), guarded by the resourceVersion.
	sec, err := s.secrets.Get(ctx, s.name, metav1.GetOptions{ResourceVersion: version})
	if err == nil && sec.ResourceVersion != version {
		err = apierrors.NewConflict(corev1.Resource("secrets"), s.name, errors.New("resourceVersion changed"))
	}
	if err == nil {
		if sec.Data == nil {
			sec.Data = map[string][]byte{}
		}
		maps.Copy(sec.Data, want)
		var got *corev1.Secret
		got, err = s.secrets.Update(ctx, sec, metav1.UpdateOptions{FieldManager: "attestd"})
		if err == nil {
			s.track("secret-update", start, nil)
			return names, got.ResourceVersion, nil
		}
	}
	s.track("secret-update", start, err)
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		return nil, "", fmt.Errorf("%w (Secret %s/%s: %v)", errKeySetChanged, s.ns, s.name, err)
	}
	return nil, "", fmt.Errorf("attestd: updating Secret %s/%s: %w", s.ns, s.name, err)
}

// keyFollower keeps a replica's signing key equal to the Secret's: it
// watches the Secret (and re-reads it every resync as a backstop against
// a silently stalled watch) and hands every new version to apply.
type keyFollower struct {
	ks     *secretKeyStore
	issuer string
	now    func() time.Time
	log    *slog.Logger
	// current returns the key in use; apply installs a newer one.
	current func() *SigningKey
	apply   func(*SigningKey)
	resync  time.Duration

	mu       sync.Mutex
	synced   time.Time // last time the Secret was read or an event seen
	watching bool
	lastErr  error
}

// keyResync is how often a follower re-reads the Secret besides watching:
// the bound on a missed change when a watch stalls without an error.
const keyResync = 30 * time.Second

// keyStale is how long a follower may go without a successful read or
// watch before /readyz reports it out of sync.
const keyStale = 2 * keyResync

// run follows the Secret until ctx is done.
func (f *keyFollower) run(ctx context.Context) {
	resync := f.resync
	if resync <= 0 {
		resync = keyResync
	}
	rv := ""
	for ctx.Err() == nil {
		if rv == "" {
			var err error
			if rv, err = f.refresh(ctx); err != nil {
				f.fail(err)
				sleepCtx(ctx, time.Second)
				continue
			}
		}
		w, err := f.ks.secrets.Watch(ctx, metav1.ListOptions{
			FieldSelector:       fields.OneTermEqualSelector("metadata.name", f.ks.name).String(),
			ResourceVersion:     rv,
			AllowWatchBookmarks: true,
		})
		if err != nil {
			f.fail(fmt.Errorf("attestd: watching Secret %s/%s: %w", f.ks.ns, f.ks.name, err))
			rv = ""
			sleepCtx(ctx, time.Second)
			continue
		}
		f.setWatching(true)
		rv = f.consume(ctx, w, rv, resync)
		w.Stop()
		f.setWatching(false)
	}
}

// consume handles the events of one watch until it ends, and re-reads the
// Secret every resync. It returns the resourceVersion to watch from next
// ("" to re-read first).
func (f *keyFollower) consume(ctx context.Context, w watch.Interface, rv string, resync time.Duration) string {
	t := time.NewTicker(resync)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return rv
		case <-t.C:
			v, err := f.refresh(ctx)
			if err != nil {
				f.fail(err)
				continue
			}
			rv = v
		case ev, ok := <-w.ResultChan():
			if !ok {
				return rv
			}
			switch ev.Type {
			case watch.Added, watch.Modified:
				sec, ok := ev.Object.(*corev1.Secret)
				if !ok {
					continue
				}
				rv = sec.ResourceVersion
				f.install(blobsOf(sec), rv)
			case watch.Bookmark:
				if m, err := metaAccessor(ev.Object); err == nil {
					rv = m
				}
				f.ok()
			case watch.Deleted:
				f.restore(ctx)
				return "" // re-read what was restored (by this or another replica)
			case watch.Error:
				f.fail(fmt.Errorf("attestd: watching Secret %s/%s: %v", f.ks.ns, f.ks.name, apierrors.FromObject(ev.Object)))
				return "" // e.g. 410 Gone: re-read, then watch again
			}
		}
	}
}

func metaAccessor(obj any) (string, error) {
	m, ok := obj.(metav1.Object)
	if !ok {
		return "", errors.New("no object metadata")
	}
	return m.GetResourceVersion(), nil
}

// restore recreates a deleted Secret from the key set this replica holds, so
// that replicas keep agreeing (a new key would need a rotation, which keeps
// the next key published first). When another replica restores it first,
// the Create fails and the follower reads theirs.
func (f *keyFollower) restore(ctx context.Context) {
	cur := f.current()
	if cur == nil || cur.stored == nil {
		f.fail(fmt.Errorf("attestd: Secret %s/%s was deleted and this replica holds no stored key set to restore", f.ks.ns, f.ks.name))
		return
	}
	_, _, err := f.ks.write(ctx, cur.stored, keyBlobs{}, "")
	switch {
	case errors.Is(err, errKeySetChanged):
		f.log.Info("signing-key Secret was deleted; another replica restored it", "secret", f.ks.ns+"/"+f.ks.name)
	case err != nil:
		f.fail(fmt.Errorf("attestd: Secret %s/%s was deleted; restoring it: %w", f.ks.ns, f.ks.name, err))
	default:
		f.log.Warn("signing-key Secret was deleted; restored it from the keys this replica holds", "secret", f.ks.ns+"/"+f.ks.name, "kid", cur.KeyID())
	}
}

// refresh reads the Secret and installs it; it returns its version.
func (f *keyFollower) refresh(ctx context.Context) (string, error) {
	have, rv, err := f.ks.read(ctx)
	if err != nil {
		return "", err
	}
	if rv == "" {
		f.restore(ctx)
		return "", fmt.Errorf("attestd: Secret %s/%s did not exist; restored from this replica's keys unless another replica did", f.ks.ns, f.ks.name)
	}
	f.install(have, rv)
	return rv, nil
}

// install makes the key set stored at version rv the one in use, unless
// the replica already has it or a newer one.
func (f *keyFollower) install(have keyBlobs, rv string) {
	cur := f.current()
	if cur != nil && !newerVersion(rv, cur.version) {
		f.ok()
		return
	}
	k, want, _, err := decodeKeySet(f.ks, have, f.issuer, f.now(), false)
	if err != nil {
		f.fail(fmt.Errorf("attestd: ignoring Secret %s/%s version %s: %w", f.ks.ns, f.ks.name, rv, err))
		return
	}
	k.stored, k.version = have, rv
	if !maps.EqualFunc(want, have, bytes.Equal) {
		// A certificate this replica would re-issue (another issuer, or near
		// expiry): it signs with the same key, and the replica that restarts
		// first stores the new certificate.
		f.log.Warn("the signing-key Secret holds a certificate this replica re-issued in memory", "secret", f.ks.ns+"/"+f.ks.name)
	}
	if cur == nil || cur.KeyID() != k.KeyID() || !bytes.Equal(cur.JWKS(), k.JWKS()) {
		f.log.Info("signing keys changed in the Secret: now in use here", "kid", k.KeyID(), "next_kid", k.NextKeyID(),
			"previous_kid", kidOf(cur), "secret_version", rv)
	}
	f.apply(k)
	f.ok()
}

func kidOf(k *SigningKey) string {
	if k == nil {
		return ""
	}
	return k.KeyID()
}

// newerVersion reports whether resourceVersion a is newer than b. Versions
// are opaque to clients; etcd's are increasing integers, which is compared
// when both parse, else any difference counts as newer.
func newerVersion(a, b string) bool {
	x, err1 := strconv.ParseUint(a, 10, 64)
	y, err2 := strconv.ParseUint(b, 10, 64)
	if err1 == nil && err2 == nil {
		return x > y
	}
	return a != b
}

// versionBefore reports whether resourceVersion a is known to be older than
// b (both are etcd revisions); false when either is not a number.
func versionBefore(a, b string) bool {
	x, err1 := strconv.ParseUint(a, 10, 64)
	y, err2 := strconv.ParseUint(b, 10, 64)
	return err1 == nil && err2 == nil && x < y
}

func (f *keyFollower) ok() {
	f.mu.Lock()
	f.synced, f.lastErr = f.now(), nil
	f.mu.Unlock()
}

func (f *keyFollower) fail(err error) {
	f.mu.Lock()
	f.lastErr = err
	f.mu.Unlock()
	f.log.Error("signing-key Secret", "err", err.Error())
}

func (f *keyFollower) setWatching(v bool) {
	f.mu.Lock()
	f.watching = v
	if v {
		f.synced = f.now()
	}
	f.mu.Unlock()
}

// check reports, for /readyz, whether the replica follows the Secret: a
// read or watch succeeded within keyStale.
func (f *keyFollower) check() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.watching && f.lastErr == nil {
		return nil
	}
	if f.synced.IsZero() || f.now().Sub(f.synced) > keyStale {
		if f.lastErr != nil {
			return fmt.Errorf("signing-key Secret not in sync: %w", f.lastErr)
		}
		return errors.New("signing-key Secret not in sync")
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
