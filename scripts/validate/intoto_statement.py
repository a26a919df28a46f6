"""Validate an in-toto Statement v1 carrying SLSA Provenance v1 with the in-toto attestation
library: strict protobuf JSON parsing (unknown fields and wrong types are errors) and the
library's own validate() for the Statement and every ResourceDescriptor.

usage: intoto_statement.py FILE   (a Statement, or a DSSE envelope whose payload is one)
exit 0 when valid; prints the reason and exits 1 otherwise.
"""
import base64
import json
import sys

from google.protobuf import json_format
from in_toto_attestation.predicates.provenance.v1 import provenance_pb2
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.v1.resource_descriptor import ResourceDescriptor
from in_toto_attestation.v1.statement import Statement


def main(path):
    doc = json.load(open(path))
    if "payload" in doc and "payloadType" in doc:
        if doc["payloadType"] != "application/vnd.in-toto+json":
            raise ValueError("payloadType is " + doc["payloadType"])
        doc = json.loads(base64.b64decode(doc["payload"]))
    st = json_format.ParseDict(doc, statement_pb2.Statement())  # strict: unknown fields fail
    Statement.copy_from_pb(st).validate()
    if st.predicate_type != "https://slsa.dev/provenance/v1":
        raise ValueError("predicateType is " + st.predicate_type)
    prov = json_format.ParseDict(doc["predicate"], provenance_pb2.Provenance())
    if not prov.build_definition.build_type:
        raise ValueError("buildDefinition.buildType is required")
    if not prov.run_details.builder.id:
        raise ValueError("runDetails.builder.id is required")
    for rd in prov.build_definition.resolved_dependencies:
        ResourceDescriptor.copy_from_pb(rd).validate()
    print("valid: %d subject(s), %d resolved dependencies" % (len(st.subject), len(prov.build_definition.resolved_dependencies)))


if __name__ == "__main__":
    try:
        main(sys.argv[1])
    except Exception as e:  # noqa: BLE001 - any failure is a validation failure
        print("invalid: %s: %s" % (type(e).__name__, e))
        sys.exit(1)
