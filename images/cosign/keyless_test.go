package cosign

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ociremote "github.com/sigstore/cosign/v3/pkg/oci/remote"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/kubegate/kubegate/gate/policy"
	"github.com/kubegate/kubegate/images"
	"github.com/kubegate/kubegate/images/imagetest"
)

const (
	ciIssuer   = "https://token.actions.githubusercontent.com"
	ciIdentity = "release@acme.example"
)

// signKeyless signs the digest the keyless way in a private Sigstore: a Fulcio-style
// certificate for the identity, the signature's entry in its transparency log (with an
// inclusion proof), a timestamp; packed as a cosign v3 bundle attached as a referrer.
func signKeyless(t *testing.T, f *fixture, vs *ca.VirtualSigstore, d name.Digest, identity string, tamper ...func(*protorekor.TransparencyLogEntry)) {
	t.Helper()
	stmt, err := imagetest.Statement(d, SignPredicate, nil)
	if err != nil {
		t.Fatal(err)
	}
	e, err := vs.AttestAtTime(identity, ciIssuer, stmt, time.Now().Add(5*time.Minute), true)
	if err != nil {
		t.Fatal(err)
	}
	vc, _ := e.VerificationContent()
	sc, _ := e.SignatureContent()
	tsrs, _ := e.Timestamps()
	entries, _ := e.TlogEntries()
	env := sc.(*bundle.Envelope).Envelope
	payload, _ := base64.StdEncoding.DecodeString(env.Payload)
	sig, _ := base64.StdEncoding.DecodeString(env.Signatures[0].Sig)
	// The test log's entry as a bundle holds it: kind and version from the body, the
	// inclusion promise (the log's signed entry timestamp, which makes its integrated time
	// trusted) and the inclusion proof with its signed checkpoint.
	tle := proto.Clone(entries[0].TransparencyLogEntry()).(*protorekor.TransparencyLogEntry)
	var kind struct{ Kind, APIVersion string }
	json.Unmarshal(tle.CanonicalizedBody, &kind)
	tle.KindVersion = &protorekor.KindVersion{Kind: kind.Kind, Version: kind.APIVersion}
	set, err := vs.RekorSignPayload(tlog.RekorPayload{Body: base64.StdEncoding.EncodeToString(tle.CanonicalizedBody),
		IntegratedTime: tle.IntegratedTime, LogIndex: tle.LogIndex, LogID: hex.EncodeToString(tle.LogId.KeyId)})
	if err != nil || tle.InclusionProof == nil {
		t.Fatalf("the test log gave no promise (%v) or no inclusion proof", err)
	}
	tle.InclusionPromise = &protorekor.InclusionPromise{SignedEntryTimestamp: set}
	for _, f := range tamper {
		f(tle)
	}
	pb := &protobundle.Bundle{
		MediaType: "application/vnd.dev.sigstore.bundle.v0.3+json",
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content:                   &protobundle.VerificationMaterial_Certificate{Certificate: &protocommon.X509Certificate{RawBytes: vc.(*bundle.Certificate).Certificate().Raw}},
			TlogEntries:               []*protorekor.TransparencyLogEntry{tle},
			TimestampVerificationData: &protobundle.TimestampVerificationData{Rfc3161Timestamps: []*protocommon.RFC3161SignedTimestamp{{SignedTimestamp: tsrs[0]}}},
		},
		Content: &protobundle.Bundle_DsseEnvelope{DsseEnvelope: &protodsse.Envelope{
			Payload: payload, PayloadType: env.PayloadType, Signatures: []*protodsse.Signature{{Sig: sig}},
		}},
	}
	js, err := protojson.Marshal(pb)
	if err != nil {
		t.Fatal(err)
	}
	if err := new(bundle.Bundle).UnmarshalJSON(js); err != nil {
		t.Fatalf("not a valid bundle: %v", err)
	}
	if err := ociremote.WriteAttestationNewBundleFormat(d, js, SignPredicate, ociremote.WithRemoteOptions(f.reg.Remote()...)); err != nil {
		t.Fatal(err)
	}
}

// TestKeylessWithPrivateSigstore: the keyless success path end to end, against a private
// Sigstore made in the test (sigstore-go's VirtualSigstore as the trusted root): the
// certificate chain, the identity and issuer, the transparency-log entry and its
// inclusion proof all verify; another identity, another trust root or a log entry that
// does not verify are refused.
func TestKeylessWithPrivateSigstore(t *testing.T) {
	f := setup(t)
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	other, _ := ca.NewVirtualSigstore()
	verifier := func(tm root.TrustedMaterial) *Verifier {
		return New(Options{
			Parse:       func(ref string) (name.Reference, error) { return name.ParseReference(ref, name.Insecure) },
			TrustedRoot: func() (root.TrustedMaterial, error) { return tm, nil },
			ignoreSCT:   true,
		})
	}
	signed := f.push(t, "keyless")
	signKeyless(t, f, vs, signed, ciIdentity)
	rule := func(subject string) *policy.SignatureRule {
		return &policy.SignatureRule{Keyless: []policy.KeylessIdentity{{Issuer: ciIssuer, Subject: subject}}}
	}
	verify := func(v *Verifier, r *policy.SignatureRule) (*images.Verification, error) {
		f.verifier = v
		return f.verify(signed, r)
	}

	res, err := verify(verifier(vs), rule(ciIdentity))
	if err != nil {
		t.Fatalf("keyless signature by the expected identity: %v", err)
	}
	if want := "keyless " + ciIdentity + " (" + ciIssuer + ")"; len(res.SignedBy) != 1 || res.SignedBy[0] != want {
		t.Errorf("signed by %v, want %s", res.SignedBy, want)
	}
	for _, tc := range []struct {
		name string
		v    *Verifier
		rule *policy.SignatureRule
		want string
	}{
		{"another identity", verifier(vs), rule("attacker@example.com"), "keyless attacker@example.com (" + ciIssuer + "):"},
		{"another Sigstore's root", verifier(other), rule(ciIdentity), "keyless " + ciIdentity + " (" + ciIssuer + "):"},
		{"regexp identity, wrong issuer", verifier(vs), &policy.SignatureRule{Keyless: []policy.KeylessIdentity{{Issuer: "https://accounts.google.com", SubjectRegExp: ".*"}}}, "no valid signature"},
		{"trusted root unavailable", New(Options{TrustedRoot: func() (root.TrustedMaterial, error) { return nil, errors.New("TUF offline") }, ignoreSCT: true,
			Parse: func(ref string) (name.Reference, error) { return name.ParseReference(ref, name.Insecure) }}), rule(ciIdentity), "loading the Sigstore trusted root: TUF offline"},
	} {
		if _, err := verify(tc.v, tc.rule); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}

	// An inclusion proof that does not lead to the log's signed checkpoint.
	unproven := f.push(t, "unproven")
	signKeyless(t, f, vs, unproven, ciIdentity, func(tle *protorekor.TransparencyLogEntry) { tle.InclusionProof.RootHash[0] ^= 0xff })
	f.verifier = verifier(vs)
	if _, err := f.verify(unproven, rule(ciIdentity)); err == nil || !strings.Contains(err.Error(), "failed to verify log inclusion") {
		t.Errorf("an entry whose inclusion proof does not match the checkpoint: %v", err)
	}

	// A log entry that does not verify: the bundle signed by the private Sigstore, but
	// the transparency log's key is another's.
	forged := f.push(t, "forgedlog")
	signKeyless(t, f, vs, forged, ciIdentity)
	f.verifier = verifier(mixedRoot{TrustedMaterial: vs, logs: other})
	if _, err := f.verify(forged, rule(ciIdentity)); err == nil {
		t.Error("a transparency-log entry signed by an unknown log verified")
	}
}

// mixedRoot trusts one Sigstore's CAs and another's transparency logs.
type mixedRoot struct {
	root.TrustedMaterial
	logs root.TrustedMaterial
}

func (m mixedRoot) RekorLogs() map[string]*root.TransparencyLog { return m.logs.RekorLogs() }
