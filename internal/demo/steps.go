package demo

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sgxops/sgxops/attestd"
	"github.com/sgxops/sgxops/examples/aggregate"
	"github.com/sgxops/sgxops/maaclient"
	"github.com/sgxops/sgxops/probe"
	"github.com/sgxops/sgxops/ra"
	"github.com/sgxops/sgxops/registry"
	"github.com/sgxops/sgxops/sim"
)

// The steps of the story, in order. Each records what it saw in s and in
// the report.

func (st *story) startPlatform(s *Step) error {
	var err error
	if st.plat, err = startPlatform(filepath.Join(st.dir, "sim")); err != nil {
		return err
	}
	st.rep.PCSURL = st.plat.pcs.String()
	cfg := st.plat.platform.Config()
	s.add("SIMULATED platform: FMSPC %x, TCB UpToDate, root CA %s", cfg.FMSPC, filepath.Join(st.plat.dir, sim.RootCAFile))
	s.add("SIMULATED PCS (Intel PCS v4 paths): %s", st.rep.PCSURL)
	return nil
}

func (st *story) startAttestd(s *Step) error {
	dir := filepath.Join(st.dir, "attestd")
	var err error
	st.att, err = startAttestd(dir, st.rep.PCSURL, filepath.Join(st.plat.dir, sim.RootCAFile),
		st.plat.platform.RootCertificate(), st.grace)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, attestd.AdminTokenFile), []byte(st.att.admin.token+"\n"), 0o600); err != nil {
		return err
	}
	st.rep.AttestdURL = st.att.issuer
	s.add("attestd %s (store %s)", st.att.issuer, filepath.Join(dir, "sgxops.db"))
	s.add("INSECURE by choice: it trusts the SIMULATED root; its tokens say x-sgxops-simulated: true")
	st.mc, err = maaclient.New(st.att.issuer, maaclient.Options{})
	return err
}

func (st *story) buildBlue(s *Step) error {
	var err error
	if st.blue, err = measureBuild(st.dir, "v1"); err != nil {
		return err
	}
	st.rep.Blue = Build{Version: "v1", Release: "v1", Path: st.blue.Path, MREnclave: st.blue.MREnclave}
	s.add("SIMULATED build artifact %s", st.blue.Path)
	s.add("measured with the enclave package: MRENCLAVE %s (of the SIMULATED build)", st.blue.MREnclave)
	return nil
}

func (st *story) activateBlue(s *Step) error {
	v, err := st.att.admin.register(st.ctx, aggregate.App, "v1", st.blue.MREnclave)
	if err != nil {
		return err
	}
	s.add("registered %s (MRENCLAVE %s)", fmtState(v), short(v.MREnclave))
	if v, err = st.att.admin.transition(st.ctx, aggregate.App, "v1", "activate", 0); err != nil {
		return err
	}
	s.add("activated: %s", fmtState(v))
	return nil
}

func (st *story) startBlue(s *Step) error {
	var err error
	if st.blueSrv, err = startService(st.plat.platform, st.blue); err != nil {
		return err
	}
	st.route = newRouter(st.blueSrv.URL)
	if st.routeSrv, err = serve(st.route); err != nil {
		return err
	}
	st.rep.BlueURL, st.rep.ServiceURL = st.blueSrv.String(), st.routeSrv.String()
	s.add("blue %s (SIMULATED enclave, quotes from the simulated platform)", st.rep.BlueURL)
	s.add("service URL %s -> blue", st.rep.ServiceURL)
	return nil
}

func (st *story) firstClient(s *Step) error {
	conf := ClientConfig{AttestdURL: st.rep.AttestdURL, App: aggregate.App, ServiceURL: st.rep.ServiceURL, AllowSimulated: true}
	st.rep.Client = conf
	st.client = &aggregate.Client{URL: conf.ServiceURL, Verifier: st.verifier("")}
	s.add("client config: attestd %s, app %q, service %s, SIMULATED evidence allowed; no MRENCLAVE",
		conf.AttestdURL, conf.App, conf.ServiceURL)
	ans, err := st.client.Aggregate(st.ctx, secretsBlue)
	if err != nil {
		return err
	}
	st.rep.First = ans
	s.add("%s", describe(ans.Attestation))
	s.add("sent %v encrypted; %s", secretsBlue, describeAnswer(ans))
	return expect(ans, "v1", "active")
}

func (st *story) buildGreen(s *Step) error {
	var err error
	if st.green, err = measureBuild(st.dir, "v2"); err != nil {
		return err
	}
	st.rep.Green = Build{Version: "v2", Release: "v2", Path: st.green.Path, MREnclave: st.green.MREnclave}
	if st.green.MREnclave == st.blue.MREnclave {
		return errors.New("v2 has the same MRENCLAVE as v1")
	}
	s.add("SIMULATED build artifact %s: MRENCLAVE %s (differs from v1)", st.green.Path, st.green.MREnclave)
	v, err := st.att.admin.register(st.ctx, aggregate.App, "v2", st.green.MREnclave)
	if err != nil {
		return err
	}
	s.add("registered %s", fmtState(v))
	if st.greenSrv, err = startService(st.plat.platform, st.green); err != nil {
		return err
	}
	st.rep.GreenURL = st.greenSrv.String()
	s.add("green %s (SIMULATED enclave, no traffic yet)", st.rep.GreenURL)
	return nil
}

func (st *story) testCandidate(s *Step) error {
	// The rollout's test (as "sgxops probe" runs it): green attests as v2,
	// a candidate, only when the request names it; a regular client's
	// request (no candidate named) is refused.
	res, err := probe.Run(st.ctx, probe.Options{ServiceURL: st.rep.GreenURL, Attestd: st.mc, App: aggregate.App,
		Release: "v2", States: []string{"candidate"}, AllowSimulated: true})
	if err != nil {
		return err
	}
	st.rep.CandidateTest, st.rep.CandidateRefused = res.Attestation, res.UnnamedRefused
	s.add("rollout test: %s", describe(res.Attestation))
	if res.UnnamedRefused == nil {
		return errors.New("a client without the candidate request was not refused")
	}
	s.add("a regular client (no candidate named) refuses the SIMULATED candidate: %s", rootCause(res.UnnamedRefused))
	// And the candidate computes: the test client names it.
	test := &aggregate.Client{URL: st.rep.GreenURL, Verifier: st.verifier("v2")}
	defer test.Close(st.ctx)
	ans, err := test.Aggregate(st.ctx, []float64{1, 2, 3})
	if err != nil {
		return err
	}
	s.add("rollout test computes: %s", describeAnswer(ans))
	return expect(ans, "v2", "candidate")
}

func (st *story) activateGreen(s *Step) error {
	v, err := st.att.admin.transition(st.ctx, aggregate.App, "v2", "activate", st.grace)
	if err != nil {
		return err
	}
	s.add("activated: %s", fmtState(v))
	b, err := st.att.admin.get(st.ctx, aggregate.App, "v1")
	if err != nil {
		return err
	}
	s.add("demoted: %s", fmtState(b))
	if b.State != "draining" {
		return fmt.Errorf("v1 is %s after activating v2, want draining", b.State)
	}
	// While draining, blue is still accepted (in-flight clients finish).
	sess, err := (&ra.Client{Verifier: st.verifier("")}).DialHTTP(st.ctx, st.rep.BlueURL, nil)
	if err != nil {
		return fmt.Errorf("draining blue not accepted: %w", err)
	}
	_ = sess.Close(st.ctx)
	st.rep.DrainingBlue = sess.Attestation()
	s.add("blue still accepted while draining: %s", describe(sess.Attestation()))
	if sess.Attestation().ReleaseState != "draining" {
		return fmt.Errorf("blue attested as %s, want draining", sess.Attestation().ReleaseState)
	}
	return nil
}

func (st *story) switchTraffic(s *Step) error {
	st.route.switchTo(st.greenSrv.URL)
	s.add("service URL %s -> green %s", st.rep.ServiceURL, st.rep.GreenURL)
	ans, err := st.client.Aggregate(st.ctx, secretsGreen)
	if err != nil {
		return err
	}
	st.rep.AfterSwitch = ans
	s.add("%s", describe(ans.Attestation))
	s.add("sent %v encrypted; %s", secretsGreen, describeAnswer(ans))
	if !ans.NewSession {
		return errors.New("the client did not re-attest after the switch")
	}
	return expect(ans, "v2", "active")
}

func (st *story) retireBlue(s *Step) error {
	v, err := st.att.admin.transition(st.ctx, aggregate.App, "v1", "retire", 0)
	if err != nil {
		return err
	}
	s.add("retired: %s", fmtState(v))
	ans, err := st.client.Aggregate(st.ctx, secretsLast)
	if err != nil {
		return err
	}
	st.rep.AfterRetire = ans
	s.add("sent %v encrypted; %s", secretsLast, describeAnswer(ans))
	return expect(ans, "v2", "active")
}

func (st *story) rejectRetired(s *Step) error {
	stale := &aggregate.Client{URL: st.rep.BlueURL, Verifier: st.verifier("")}
	_, err := stale.Aggregate(st.ctx, secretsLast)
	if err == nil {
		return errors.New("the retired release was accepted")
	}
	if !errors.Is(err, ra.ErrAttestation) {
		return fmt.Errorf("rejected for the wrong reason: %w", err)
	}
	if !strings.Contains(err.Error(), "retired") {
		return fmt.Errorf("rejection does not say the release is retired: %w", err)
	}
	st.rep.RetiredRejected = err
	s.add("same client configuration, blue's URL, SIMULATED evidence: rejected: %s", rootCause(err))
	st.blueSrv.close()
	st.blueSrv = nil
	s.add("blue stopped; no secret was sent to it")
	for _, name := range []string{"v1", "v2"} {
		v, err := st.att.admin.get(st.ctx, aggregate.App, name)
		if err != nil {
			return err
		}
		st.recordFinal(v)
		s.add("final: %s", fmtState(v))
	}
	return nil
}

func (st *story) recordFinal(v *registry.View) {
	switch v.Name {
	case "v1":
		st.rep.BlueFinalState = string(v.State)
	case "v2":
		st.rep.GreenFinalState = string(v.State)
	}
}
