"""Validates the embedded PDF signature of a custody report with pyHanko (an independent
implementation of PAdES), and prints what it found as one JSON line:

    {"signatures": 1, "intact": true, "valid": true, "coverage": "ENTIRE_FILE",
     "modification": "NONE", "trusted_with_own_certificate": true,
     "certificate_sha256": "..."}

`trusted_with_own_certificate` validates again with the signer's certificate as the only
trust root: what a reader who has checked the fingerprint against the signed manifest gets.
Used by tests/e2e/reports.rs; pyHanko is installed by .ci/run.
"""

import hashlib
import json
import logging
import sys

from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

logging.disable(logging.CRITICAL)


def main(path):
    with open(path, "rb") as f:
        reader = PdfFileReader(f, strict=False)
        sigs = reader.embedded_signatures
        out = {"signatures": len(sigs)}
        if sigs:
            sig = sigs[0]
            status = validate_pdf_signature(sig, ValidationContext(allow_fetching=False))
            cert = sig.signer_cert
            own = validate_pdf_signature(
                sig, ValidationContext(trust_roots=[cert], allow_fetching=False)
            )
            out.update(
                intact=bool(status.intact),
                valid=bool(status.valid),
                coverage=status.coverage.name if status.coverage else None,
                modification=status.modification_level.name
                if status.modification_level
                else None,
                trusted_with_own_certificate=bool(own.trusted and own.intact and own.valid),
                certificate_sha256=hashlib.sha256(cert.dump()).hexdigest(),
            )
        print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
