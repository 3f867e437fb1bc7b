package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// identityToken is the OIDC identity token keyless signing presents to Fulcio, as cosign
// finds it: SIGSTORE_ID_TOKEN (GitLab's id_tokens, or any CI), else GitHub Actions' token
// for the audience "sigstore" (the job needs permissions: id-token: write).
func identityToken(ctx context.Context) (string, error) {
	if t := strings.TrimSpace(os.Getenv("SIGSTORE_ID_TOKEN")); t != "" {
		return t, nil
	}
	reqURL, reqToken := os.Getenv("ACTIONS_ID_TOKEN_REQUEST_URL"), os.Getenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
	if reqURL == "" || reqToken == "" {
		return "", errors.New("no OIDC identity token: set SIGSTORE_ID_TOKEN, or run in GitHub Actions with permissions: id-token: write")
	}
	u, err := url.Parse(reqURL)
	if err != nil {
		return "", fmt.Errorf("ACTIONS_ID_TOKEN_REQUEST_URL: %v", err)
	}
	q := u.Query()
	q.Set("audience", "sigstore")
	u.RawQuery = q.Encode()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+reqToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("GitHub Actions' OIDC token: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var v struct{ Value string }
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &v) != nil || v.Value == "" {
		return "", fmt.Errorf("GitHub Actions' OIDC token: HTTP %d: %.200s", resp.StatusCode, body)
	}
	return v.Value, nil
}
