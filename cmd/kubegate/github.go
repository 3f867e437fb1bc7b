package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/kubegate/kubegate/gate"
	"github.com/kubegate/kubegate/gate/report"
)

// githubActions does what a step in GitHub Actions is expected to: annotate the findings
// (unless the report already is the workflow commands), append the Markdown summary to
// $GITHUB_STEP_SUMMARY and set the step's outputs in $GITHUB_OUTPUT: verdict, findings,
// exit-code and sarif-file.
func githubActions(w io.Writer, res *gate.Result, o report.Options, annotated bool, sarifFile string) error {
	if !annotated {
		if err := report.GitHubAnnotations(w, res, o); err != nil {
			return err
		}
	}
	if path := os.Getenv("GITHUB_STEP_SUMMARY"); path != "" {
		var b bytes.Buffer
		if err := report.Markdown(&b, res, o); err != nil {
			return err
		}
		if err := appendFile(path, b.Bytes()); err != nil {
			return fmt.Errorf("GITHUB_STEP_SUMMARY: %w", err)
		}
	}
	if path := os.Getenv("GITHUB_OUTPUT"); path != "" {
		outputs := fmt.Sprintf("verdict=%s\nfindings=%d\nexit-code=%d\nsarif-file=%s\n",
			res.Verdict(), len(res.Findings), res.ExitCode(), strings.ReplaceAll(sarifFile, "\n", ""))
		if err := appendFile(path, []byte(outputs)); err != nil {
			return fmt.Errorf("GITHUB_OUTPUT: %w", err)
		}
	}
	return nil
}

func appendFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
