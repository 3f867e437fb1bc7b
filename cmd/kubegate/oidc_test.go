package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestIdentityToken(t *testing.T) {
	gh := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer req-token" || r.URL.Query().Get("audience") != "sigstore" || r.URL.Query().Get("api-version") != "2.0" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		w.Write([]byte(`{"count":1,"value":"gh-oidc-token"}`))
	}))
	defer gh.Close()
	for _, tc := range []struct {
		name, sigstore, url, token, want, err string
	}{
		{"SIGSTORE_ID_TOKEN first", "explicit", gh.URL + "?api-version=2.0", "req-token", "explicit", ""},
		{"GitHub Actions", "", gh.URL + "?api-version=2.0", "req-token", "gh-oidc-token", ""},
		{"GitHub refuses", "", gh.URL + "?api-version=2.0", "wrong", "", "HTTP 400"},
		{"none", "", "", "", "", "no OIDC identity token: set SIGSTORE_ID_TOKEN, or run in GitHub Actions with permissions: id-token: write"},
	} {
		t.Setenv("SIGSTORE_ID_TOKEN", tc.sigstore)
		t.Setenv("ACTIONS_ID_TOKEN_REQUEST_URL", tc.url)
		t.Setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", tc.token)
		got, err := identityToken(context.Background())
		if got != tc.want || (tc.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: %q %v", tc.name, got, err)
		}
	}
	// Asked for keyless signing without a token: an error before anything is checked.
	t.Setenv("SIGSTORE_ID_TOKEN", "")
	t.Setenv("ACTIONS_ID_TOKEN_REQUEST_URL", "")
	code, _, errOut := kubegate(t, "", "check", "--attest-keyless", "../../testdata/demo/chart")
	if code != 2 || !strings.Contains(errOut, "--attest-keyless: no OIDC identity token") {
		t.Errorf("no token: exit %d %s", code, errOut)
	}
	code, _, errOut = kubegate(t, "", "check", "--attest-keyless", "--attest-key", "x.key", "../../testdata/demo/chart")
	if code != 2 || !strings.Contains(errOut, "--attest-key and --attest-keyless: choose one") {
		t.Errorf("both: exit %d %s", code, errOut)
	}
}

// Signing flags that cannot sign anything are refused, not ignored.
func TestAttestFlagsWithoutAnImageStage(t *testing.T) {
	noGitHub(t)
	code, _, errOut := kubegate(t, "", "check", "--offline", "--attest-key", "x.key", "../../testdata/demo/chart")
	if code != 2 || !strings.Contains(errOut, "--attest-key/--attest-keyless sign what the image checks found: drop --offline") {
		t.Errorf("--offline --attest-key: exit %d %s", code, errOut)
	}
	code, _, errOut = kubegate(t, "", "webhook", "serve", "--tls-cert", "c", "--tls-key", "k", "--attest-keyless")
	if code != 2 || !strings.Contains(errOut, "webhook serve does not attest") {
		t.Errorf("webhook serve --attest-keyless: exit %d %s", code, errOut)
	}
}
