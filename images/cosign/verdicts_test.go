package cosign

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"github.com/sigstore/sigstore/pkg/signature"
	"google.golang.org/protobuf/proto"

	"github.com/kubegate/kubegate/gate/policy"
	"github.com/kubegate/kubegate/images"
)

// fulcioOf is a private Sigstore's Fulcio: the certificate it issued for the key.
type fulcioOf struct{ der []byte }

func (f fulcioOf) GetCertificate(context.Context, sign.Keypair, *sign.CertificateProviderOptions) ([]byte, error) {
	return f.der, nil
}

// rekorOf is a private Sigstore's Rekor: it logs the bundle's DSSE envelope and adds the
// entry, its inclusion proof and promise, to the bundle, as Rekor's answer gives them.
type rekorOf struct{ vs *ca.VirtualSigstore }

func (r rekorOf) GetTransparencyLogEntry(_ context.Context, _ []byte, b *protobundle.Bundle) error {
	env := b.GetDsseEnvelope()
	leaf := b.GetVerificationMaterial().GetCertificate().GetRawBytes()
	cert, err := x509.ParseCertificate(leaf)
	if err != nil {
		return err
	}
	e, err := r.vs.GenerateTlogEntry(cert, &dsse.Envelope{PayloadType: env.PayloadType,
		Payload: base64.StdEncoding.EncodeToString(env.Payload), Signatures: []dsse.Signature{{Sig: base64.StdEncoding.EncodeToString(env.Signatures[0].Sig)}}},
		env.Signatures[0].Sig, time.Now().Add(time.Minute).Unix(), true)
	if err != nil {
		return err
	}
	tle := proto.Clone(e.TransparencyLogEntry()).(*protorekor.TransparencyLogEntry)
	var kind struct{ Kind, APIVersion string }
	json.Unmarshal(tle.CanonicalizedBody, &kind)
	tle.KindVersion = &protorekor.KindVersion{Kind: kind.Kind, Version: kind.APIVersion}
	set, err := r.vs.RekorSignPayload(tlog.RekorPayload{Body: base64.StdEncoding.EncodeToString(tle.CanonicalizedBody),
		IntegratedTime: tle.IntegratedTime, LogIndex: tle.LogIndex, LogID: hex.EncodeToString(tle.LogId.KeyId)})
	if err != nil {
		return err
	}
	tle.InclusionPromise = &protorekor.InclusionPromise{SignedEntryTimestamp: set}
	b.VerificationMaterial.TlogEntries = append(b.VerificationMaterial.TlogEntries, tle)
	return nil
}

// TestKeylessVerdicts: a verdict signed keyless (an ephemeral key certified for the CI's
// identity, logged) is found under a keyless trust for that identity, not another's; a
// key-signed one under its key.
func TestKeylessVerdicts(t *testing.T) {
	f := setup(t)
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	leaf, key, err := vs.GenerateLeafCert(ciIdentity, ciIssuer)
	if err != nil {
		t.Fatal(err)
	}
	sv, err := signature.LoadSignerVerifier(key, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := newKeypair(sv)
	if err != nil {
		t.Fatal(err)
	}
	insecure := func(ref string) (name.Reference, error) { return name.ParseReference(ref, name.Insecure) }
	a := &Attester{keypair: kp, certs: fulcioOf{leaf.Raw}, certOpts: &sign.CertificateProviderOptions{IDToken: "t"},
		tlogs: []sign.Transparency{rekorOf{vs}}, opts: Options{Remote: func(context.Context) []remote.Option { return f.reg.Remote() }, Parse: insecure}}
	d := f.push(t, "keyless-verdict")
	h, _ := v1.NewHash(d.DigestStr())
	stmt, _ := images.Statement(d, images.VerdictPredicateType, map[string]any{"evaluatedAt": "2026-12-01T00:00:00Z"})
	if err := a.Attest(context.Background(), d.Repository.Name()+":1", h, images.VerdictPredicateType, stmt); err != nil {
		t.Fatal(err)
	}
	v := New(Options{Parse: insecure, Remote: func(context.Context) []remote.Option { return f.reg.Remote() },
		TrustedRoot: func() (root.TrustedMaterial, error) { return vs, nil }, ignoreSCT: true})
	trust := func(subject string) *policy.SignatureRule {
		return &policy.SignatureRule{Keyless: []policy.KeylessIdentity{{Issuer: ciIssuer, Subject: subject}}}
	}
	got, err := v.Verdicts(context.Background(), d.Repository.Name()+":1", h, trust(ciIdentity))
	if err != nil || len(got) != 1 || got[0].Signer != "keyless "+ciIdentity+" ("+ciIssuer+")" || !strings.Contains(string(got[0].Statement), images.VerdictPredicateType) {
		t.Fatalf("keyless verdict: %+v %v", got, err)
	}
	if got, _ := v.Verdicts(context.Background(), d.Repository.Name()+":1", h, trust("attacker@example.com")); len(got) != 0 {
		t.Errorf("another identity's trust found %d verdicts", len(got))
	}
	if got, _ := v.Verdicts(context.Background(), d.Repository.Name()+":1", h, &policy.SignatureRule{Keys: []string{f.keyFile}, IgnoreTlog: true}); len(got) != 0 {
		t.Errorf("a key's trust found %d keyless verdicts", len(got))
	}
}
