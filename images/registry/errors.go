package registry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/kubegate/kubegate/images"
)

// describe turns go-containerregistry's errors into a sentence naming the cause: the
// status the registry answered with, a timeout, or why it could not be reached.
func describe(err error) error {
	var terr *transport.Error
	switch {
	case errors.As(err, &terr):
		status := fmt.Sprintf("%d %s", terr.StatusCode, http.StatusText(terr.StatusCode))
		detail := ""
		if len(terr.Errors) > 0 && terr.Errors[0].Message != "" {
			detail = ": " + terr.Errors[0].Message
		}
		switch terr.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("the registry refused access (%s%s); log in with docker login or set the CI's registry credentials", status, detail)
		case http.StatusNotFound:
			return fmt.Errorf("the registry does not serve it (%s%s): %w", status, detail, images.ErrNotFound)
		}
		return fmt.Errorf("the registry failed (%s%s), retries included", status, detail)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("the registry did not answer in time (%v)", err)
	}
	var nerr net.Error
	if errors.As(err, &nerr) {
		return fmt.Errorf("cannot reach the registry: %v", err)
	}
	if strings.Contains(err.Error(), "does not match") {
		return fmt.Errorf("the registry served content that does not match its digest: %v", err)
	}
	return err
}
