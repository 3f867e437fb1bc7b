package rules

// The image stage's rules (package images reports them). They are in the catalogue
// (kubegate rules, policy severity and disable, exemptions) like every other rule; their
// findings come from the registry, the signatures and the scanner, so they have no check
// here. The reference rules (image-not-pinned, image-registry-*) are in images.go.
var (
	ImageUnresolved = &Rule{
		ID: "image-unresolved", FailClosed: true, Title: "Image could not be resolved", Severity: High,
		Practices: []string{"000-5"},
		Fix:       "Make the image reachable with the CI's credentials (docker login, CI_REGISTRY_*), or fix the reference.",
		Doc: "Every image is resolved to a digest in its registry before anything else is checked. " +
			"When that fails — authentication refused, not found, a 5xx after retries, a timeout, a " +
			"digest that does not match the content — the image cannot be verified or scanned, so " +
			"the gate fails closed on it, naming the cause.",
	}
	ImageDigestGone = &Rule{
		ID: "image-digest-gone", FailClosed: true, Title: "Pinned digest no longer served", Severity: High,
		Practices: []string{"000-5"},
		Fix:       "Pin the digest the registry serves now (after reviewing it), or restore the image.",
		Doc: "The manifest pins an image by digest, and the registry answers 404 for that digest: " +
			"the image was deleted or garbage-collected, so nodes that do not have it cached cannot " +
			"start the workload, and what was reviewed can no longer be inspected.",
	}
	ImageUnverified = &Rule{
		ID: "image-unverified", FailClosed: true, Title: "Image signature or attestation not verified", Severity: High,
		Practices: []string{"000-5"},
		Refs:      []string{"https://docs.sigstore.dev/cosign/verifying/verify/"},
		Fix:       "Sign the image (cosign sign) with a key or identity images.rules accepts, and attach the attestations it asks for.",
		Doc: "For images matching an images.rules entry with signature (keys and/or keyless identities), " +
			"a cosign signature over the image digest must verify: a Sigstore bundle attached as an OCI " +
			"referrer (cosign v3) or a classic sha256-<digest>.sig tag. Keyless signatures are checked " +
			"against the Sigstore trusted root (public-good by default, --trusted-root for a private " +
			"one), including the transparency-log entry; ignoreTlog skips Rekor for private keys only. " +
			"Every attestation type the rule lists must be signed by the same signer.",
	}
	ImageNotScanned = &Rule{
		ID: "image-not-scanned", FailClosed: true, Title: "Image could not be scanned", Severity: High,
		Practices: []string{"000-5"},
		Fix:       "Make the vulnerability DB available (network to the DB repository, --db-repository mirror, or a cached DB with --skip-db-update).",
		Doc: "Every image is scanned for vulnerabilities with Trivy. When the DB cannot be " +
			"downloaded or opened, or the image's layers cannot be read, the image is unscanned: " +
			"the gate fails closed on it.",
	}
	ImageStaleDB = &Rule{
		ID: "image-vulnerability-db-stale", FailClosed: true, Title: "Vulnerability DB out of date", Severity: High,
		Practices: []string{"000-5"},
		Fix:       "Update the DB (drop --skip-db-update, or refresh the mirror), or set images.allowStaleDB: true for air-gapped runs.",
		Doc: "A scan against a DB built more than 7 days ago misses every vulnerability published " +
			"since: the image was not really checked, so it fails the gate whatever failOn says. One " +
			"finding per image scanned with it, unless images.allowStaleDB is true (air-gapped runs " +
			"that update their DB by hand).",
	}
	ImageVulnerable = &Rule{
		ID: "image-vulnerable", Title: "Image has known vulnerabilities", Severity: High,
		Practices: []string{"002-5"},
		Refs:      []string{"https://trivy.dev/latest/docs/scanner/vulnerability/"},
		Fix:       "Rebuild the image on updated packages (the fixed version is in the message), or ignore the CVE in images.rules with a reason and an expiry.",
		Doc: "Trivy finds the OS and language packages of the image and matches them against its " +
			"vulnerability DB. One finding per image per vulnerability at or above the matching rule's " +
			"vulnerabilities.failOn (default: critical), at the finding's own severity; ignoreUnfixed " +
			"drops those with no fix released, and ignore entries drop one CVE until their expiry.",
	}
	ImageRunsAsRoot = &Rule{
		ID: "image-runs-as-root", Title: "Image runs as root and the pod does not prevent it", Severity: High,
		Practices: []string{"002-5"},
		Fix:       "Set securityContext.runAsNonRoot: true and a non-zero runAsUser, or build the image with USER <non-zero uid>.",
		Doc: "The image config's User is read from the registry: empty, 0 or root means the " +
			"container runs as root unless the pod or container sets runAsNonRoot: true or a non-zero " +
			"runAsUser. A manifest can look clean and still run as root; only the image says so.",
	}
	ImageEndOfLife = &Rule{
		ID: "image-os-end-of-life", Title: "Image OS is end of life", Severity: High,
		Practices: []string{"002-5"},
		Fix:       "Rebuild the image on a supported release of its base OS.",
		Doc: "The image's OS release no longer gets security fixes (per Trivy's end-of-life dates): " +
			"vulnerabilities found from now on are never fixed in it.",
	}
)

// ImageStage are the image stage's rules, in the order their findings are most useful.
var ImageStage = []*Rule{ImageUnresolved, ImageDigestGone, ImageUnverified, ImageNotScanned, ImageStaleDB, ImageVulnerable, ImageRunsAsRoot, ImageEndOfLife}
