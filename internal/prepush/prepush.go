// Package prepush knows what `git push` is about to send — the lines git writes to a
// pre-push hook's standard input — and exports those commits, so that the hook checks what
// is pushed rather than the working tree.
package prepush

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
)

// Update is one ref being pushed.
type Update struct {
	LocalRef, LocalSHA, RemoteRef, RemoteSHA string
}

// zero is the object name git uses for "none": a new remote ref, or a deletion.
func zero(sha string) bool { return strings.Trim(sha, "0") == "" }

// Parse reads git's "<local ref> <local sha> <remote ref> <remote sha>" lines, leaving out
// deletions (nothing is pushed) and repeated commits.
func Parse(r io.Reader) ([]Update, error) {
	var out []Update
	seen := map[string]bool{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) != 4 {
			return nil, fmt.Errorf("pre-push: unexpected line from git: %q", sc.Text())
		}
		u := Update{f[0], f[1], f[2], f[3]}
		if zero(u.LocalSHA) || seen[u.LocalSHA] {
			continue
		}
		seen[u.LocalSHA] = true
		out = append(out, u)
	}
	return out, sc.Err()
}

// manifestFile says whether a changed file can change what the gate renders or decides.
func manifestFile(name string) bool {
	base := path.Base(name)
	switch strings.ToLower(path.Ext(base)) {
	case ".yaml", ".yml", ".json", ".tpl":
		return true
	}
	return base == "Chart.lock" || base == "Kustomization" || base == ".helmignore" || strings.HasSuffix(base, ".env")
}

// Touches says whether the commits between the remote's and the local commit change a file
// the gate reads. A new branch (no remote commit, or one this repository lacks) always does.
func (u Update) Touches(ctx context.Context) (bool, error) {
	if u.Base(ctx) == "" {
		return true, nil
	}
	var out bytes.Buffer
	if err := git(ctx, &out, "diff", "--name-only", "-z", u.RemoteSHA, u.LocalSHA); err != nil {
		return false, err
	}
	for _, name := range strings.Split(out.String(), "\x00") {
		if name != "" && manifestFile(name) {
			return true, nil
		}
	}
	return false, nil
}

// Export writes the whole tree of commit sha into dir (regular files and directories;
// symbolic links are left out, so nothing outside dir is reachable through them), from
// wherever in the work tree it is called.
func Export(ctx context.Context, sha, dir string) error {
	top, _, err := WorkTree(ctx)
	if err != nil {
		return err
	}
	// Streamed: a repository's tree need not fit in memory. Run at the top: in a
	// subdirectory git archive writes only that subdirectory.
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "git", "archive", "--format=tar", sha)
	cmd.Dir, cmd.Stderr = top, &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	err = untar(tar.NewReader(out), dir)
	io.Copy(io.Discard, out) // let git finish writing whatever untar left
	if werr := cmd.Wait(); werr != nil {
		return fmt.Errorf("git archive %s: %v: %s", sha, werr, strings.TrimSpace(stderr.String()))
	}
	return err
}

// untar writes the directories and regular files of tr below dir.
func untar(tr *tar.Reader, dir string) error {
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading git archive: %w", err)
		}
		name := filepath.Join(dir, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(name, filepath.Clean(dir)+string(filepath.Separator)) {
			continue
		}
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(name, 0o755)
		case tar.TypeReg:
			err = writeFile(name, tr)
		}
		if err != nil {
			return err
		}
	}
}

func writeFile(name string, r io.Reader) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// git runs git in the working directory, its standard output into out.
func git(ctx context.Context, out io.Writer, args ...string) error {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Stdout, cmd.Stderr = out, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// HooksDir is where git looks for hooks in the working directory's repository (core.hooksPath
// respected), as an absolute path.
func HooksDir(ctx context.Context) (string, error) {
	var out bytes.Buffer
	if err := git(ctx, &out, "rev-parse", "--path-format=absolute", "--git-path", "hooks"); err != nil {
		return "", err
	}
	return strings.TrimSpace(out.String()), nil
}

// Commit resolves ref (a branch, tag, SHA, HEAD~1) to the commit it names in the working
// directory's repository.
func Commit(ctx context.Context, ref string) (string, error) {
	var out bytes.Buffer
	if err := git(ctx, &out, "rev-parse", "--verify", "--quiet", "--end-of-options", ref+"^{commit}"); err != nil {
		return "", fmt.Errorf("%q is not a commit of this repository (in CI, fetch it: a full clone, or git fetch origin %s)", ref, ref)
	}
	return strings.TrimSpace(out.String()), nil
}

// WorkTree is the top of the working directory's work tree and the working directory's
// path within it ("" at the top, else "deploy/"). With GIT_DIR set and no work tree, git
// takes the working directory as the top.
func WorkTree(ctx context.Context) (top, prefix string, err error) {
	var out bytes.Buffer
	if err := git(ctx, &out, "rev-parse", "--show-toplevel", "--show-prefix"); err != nil {
		return "", "", err
	}
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	top = lines[0]
	if len(lines) > 1 {
		prefix = lines[1]
	}
	return top, prefix, nil
}

// GitDir is the working directory's repository, as an absolute path: with GIT_DIR set to
// it, git commands run from an exported tree still reach the repository.
func GitDir(ctx context.Context) (string, error) {
	var out bytes.Buffer
	if err := git(ctx, &out, "rev-parse", "--absolute-git-dir"); err != nil {
		return "", err
	}
	return strings.TrimSpace(out.String()), nil
}

// Base is the commit the push's changes are judged against: the remote's commit of the
// ref being updated, when this repository has it; "" for a new branch (everything is
// checked).
func (u Update) Base(ctx context.Context) string {
	if zero(u.RemoteSHA) || git(ctx, nil, "cat-file", "-e", u.RemoteSHA+"^{commit}") != nil {
		return ""
	}
	return u.RemoteSHA
}

// Fetch makes sure this repository has commit ref: when it lacks it (a shallow CI clone),
// it fetches that one commit from remote.
func Fetch(ctx context.Context, remote, ref string) error {
	if git(ctx, nil, "cat-file", "-e", ref+"^{commit}") == nil {
		return nil
	}
	if err := git(ctx, nil, "fetch", "--quiet", "--no-tags", "--depth=1", remote, ref); err != nil {
		return fmt.Errorf("commit %s is not in this clone and could not be fetched (clone with fetch-depth: 0): %w", ref, err)
	}
	return nil
}
