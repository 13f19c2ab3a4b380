#!/usr/bin/env python3
"""Writes events/*.json: one API Gateway HTTP API (v2) event per route, with
JWT authorizer claims, as API Gateway delivers them to the functions, and
the S3 ObjectCreated events of the inbox (`s3-*.json`: one record, several
records, a redelivered record) as S3 delivers them to `stamp-on-upload`.
Used by the functions' in-process tests (in this order) and for manual
invocation (`cargo lambda invoke NAME --data-file events/x.json`).

Usage: python3 scripts/gen-events.py   (from the repository root)
"""

import base64
import json
import pathlib

root = pathlib.Path(__file__).resolve().parent.parent
efirma = root / "assets" / "demo-efirma"
out = root / "events"

CLAIMS = {
    "sub": "7d6c1f0e-0000-4000-8000-00000000c0de",
    "email": "control.escolar@uva.edu.mx",
    "institution": "uva",
    "permissions": " ".join(
        f"norte={p}"
        for p in [
            "certificacion:ver",
            "certificacion.timbrar:editar",
            "certificacion.editar:editar",
            "certificacion:administrar",
        ]
    ),
}


def check_digit(first17):
    alphabet = "0123456789ABCDEFGHIJKLMNÑOPQRSTUVWXYZ"
    total = sum(alphabet.index(c) * (18 - i) for i, c in enumerate(first17))
    return str((10 - total % 10) % 10)


def curp(n):
    first17 = f"NUXA99{1 + n % 12:02}{1 + n % 28:02}MDFNXN0"
    return first17 + check_digit(first17)


def student(n, nombre, apellido, group):
    return {
        "controlNumber": f"A{n:04}",
        "curp": curp(n),
        "nombre": nombre,
        "primerApellido": apellido,
        "segundoApellido": "Ruiz",
        "genero": "Mujer",
        "fechaNacimiento": f"1999-{1 + n % 12:02}-{1 + n % 28:02}",
        "emailPersonal": f"a{n:04}@correo.mx",
        "group": group,
        "gradeLevel": 8,
        "active": True,
        "planId": "lae",
        "grades": [
            {"subjectClave": "ADM1", "value": "9", "ciclo": "2022-1"},
            {"subjectClave": "CON1", "value": "8.5", "ciclo": "2022-2", "observacion": "Normal"},
        ],
    }


PLAN = {
    "career": {"mecId": 103456, "clave": "LAE", "nombre": "Licenciatura en Administración de Empresas"},
    "clavePlan": "2020",
    "tipoPeriodo": "Semestre",
    "nivel": "Licenciatura",
    "scale": {"min": "5", "max": "10", "passing": "6"},
    "totalCredits": "16",
    "recognition": "rvoe",
    "rvoe": {"numero": "20201234", "fechaExpedicion": "2020-01-15"},
    "lastGrade": 8,
    "subjects": [
        {"clave": "ADM1", "nombre": "Administración I", "certification": {"idAsignatura": 1, "tipo": "Obligatoria", "creditos": "8"}},
        {"clave": "CON1", "nombre": "Contabilidad I", "certification": {"idAsignatura": 2, "tipo": "Obligatoria", "creditos": "8"}},
    ],
}

SIGNER = {
    "responsable": {
        "curp": "GOMC850412MDFRRR03",
        "nombre": "María Cristina",
        "primerApellido": "Gómez",
        "segundoApellido": "Ruiz",
        "cargo": "ResponsableExpedicion",
    },
    "cer": base64.b64encode((efirma / "responsable.cer").read_bytes()).decode(),
    "key": base64.b64encode((efirma / "responsable.key").read_bytes()).decode(),
    "password": (efirma / "responsable.password").read_text().strip(),
}

BASE = "/v1/schools/norte/cycles/2026"

# (file, function, method, path, query, body)
EVENTS = [
    ("put-plan", "manage-records", "PUT", "/v1/schools/norte/plans/lae", "", PLAN),
    ("import-students", "manage-records", "POST", f"{BASE}/students/import", "",
     {"cycleName": "2025-2026", "students": [student(1, "Ana", "Núñez", "8A"), student(2, "José", "Pérez", "8A"), student(3, "Sofía", "Ibáñez", "8B")]}),
    ("put-signer", "issue-certificates", "PUT", "/v1/schools/norte/signer", "", SIGNER),
    ("list-schools", "list-certificates", "GET", "/v1/schools", "", None),
    ("list-cycles", "list-certificates", "GET", "/v1/schools/norte/cycles", "", None),
    ("list-plans", "list-certificates", "GET", "/v1/schools/norte/plans", "", None),
    ("list-students", "list-certificates", "GET", f"{BASE}/students", "status=por_certificar&group=8A&limit=50", None),
    ("cycle-summary", "list-certificates", "GET", f"{BASE}/summary", "group=8A", None),
    ("get-student", "list-certificates", "GET", f"{BASE}/students/A0001", "", None),
    ("edit-grades", "manage-records", "PUT", f"{BASE}/students/A0003/grades", "",
     {"version": 1, "grades": [{"subjectClave": "ADM1", "value": "10", "ciclo": "2022-1"}, {"subjectClave": "CON1", "value": "9", "ciclo": "2022-2"}]}),
    ("bulk-grades", "manage-records", "POST", f"{BASE}/grades/bulk", "",
     {"students": ["A0001", "A0002"], "grades": [{"subjectClave": "CON1", "value": "9.5", "ciclo": "2022-2"}]}),
    ("preview", "issue-certificates", "POST", f"{BASE}/certificates/preview", "", {"student": "A0001"}),
    ("export-unsealed", "issue-certificates", "POST", f"{BASE}/certificates/export-unsealed", "", {"students": ["A0001"]}),
    ("issue", "issue-certificates", "POST", f"{BASE}/certificates/issue", "", {"students": ["A0001", "A0002", "A0003"]}),
    ("download-xml", "download-certificates", "GET", f"{BASE}/students/A0001/certificate.xml", "", None),
    ("download-pdf", "download-certificates", "GET", f"{BASE}/students/A0001/certificate.pdf", "", None),
    ("download-zip", "download-certificates", "POST", f"{BASE}/certificates/download", "", None),
    ("export-sealed", "issue-certificates", "POST", f"{BASE}/certificates/export-sealed", "", {"students": ["A0001"]}),
    ("email", "email-certificates", "POST", f"{BASE}/certificates/email", "", {"students": ["A0001", "A0002"]}),
    ("cancel", "cancel-certificates", "POST", f"{BASE}/certificates/cancel", "",
     {"students": ["A0002"], "motive": "R3", "reason": "Corrección del nombre"}),
    ("verify", "verify", "GET", "/v1/verify/00000000-0000-4000-8000-000000000000", "", None),
]


def event(name, function, method, path, query, body):
    route_key = f"{method} {path}"
    e = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": query,
        "headers": {
            "accept": "*/*",
            "authorization": "Bearer eyJhbGciOiJSUzI1NiJ9.ejemplo.firma",
            "host": "api.certifica.example",
            "user-agent": "curl/8.5.0",
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "certifica",
            "domainName": "api.certifica.example",
            "domainPrefix": "api",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.10", "userAgent": "curl/8.5.0"},
            "requestId": f"evento-{name}",
            "routeKey": route_key,
            "stage": "$default",
            "time": "28/Nov/2026:18:00:00 +0000",
            "timeEpoch": 1795888800000,
        },
        "isBase64Encoded": False,
    }
    if function != "verify":
        e["requestContext"]["authorizer"] = {"jwt": {"claims": CLAIMS, "scopes": None}}
    if query:
        e["queryStringParameters"] = dict(p.split("=", 1) for p in query.split("&"))
    if body is not None:
        e["headers"]["content-type"] = "application/json"
        e["body"] = json.dumps(body, ensure_ascii=False)
    return e


BUCKET = "certifica-documentos-dev"


def s3_record(key, version, etag, size, sequencer, time):
    """One ObjectCreated record; S3 URL-encodes the key (spaces as «+»)."""
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": time,
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:AIDAEJEMPLOCONTROLESCOLAR"},
        "requestParameters": {"sourceIPAddress": "203.0.113.10"},
        "responseElements": {"x-amz-request-id": f"{sequencer}REQ", "x-amz-id-2": "ejemplo/id2="},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "stamp-on-upload",
            "bucket": {"name": BUCKET, "ownerIdentity": {"principalId": "AEJEMPLO"}, "arn": f"arn:aws:s3:::{BUCKET}"},
            "object": {"key": key, "size": size, "eTag": etag, "versionId": version, "sequencer": sequencer},
        },
    }


SEALED = s3_record("inbox/uva/norte/2026/A0001.xml", "3HL4kqtJlcpXroDTDmJ-rmSpXd3dIbrHY", "9b2cf535f27731c974343645a3985328", 5120, "0065A1B2C3D4E5F601", "2026-11-28T18:05:00.000Z")
S3_EVENTS = {
    "s3-single": [SEALED],
    "s3-several": [
        s3_record("inbox/uva/norte/2026/A0002.xml", "Zq1.Vh2b3Jt4Kk5Ll6Mm7Nn8Oo9Pp0Qq", "1f0e9d8c7b6a59483726150f1e2d3c4b", 5120, "0065A1B2C3D4E5F602", "2026-11-28T18:06:00.000Z"),
        s3_record("inbox/uva/norte/2026/devuelto+por+la+autoridad.zip", "Aa1.Bb2Cc3Dd4Ee5Ff6Gg7Hh8Ii9Jj0Kk", "5d41402abc4b2a76b9719d911017c592", 20480, "0065A1B2C3D4E5F603", "2026-11-28T18:06:01.000Z"),
    ],
    # S3 delivers at least once: the same record (same version and sequencer) again.
    "s3-redelivered": [SEALED],
}

order = []
for name, records in S3_EVENTS.items():
    (out / f"{name}.json").write_text(json.dumps({"Records": records}, ensure_ascii=False, indent=2) + "\n")
for name, function, method, path, query, body in EVENTS:
    (out / f"{name}.json").write_text(json.dumps(event(name, function, method, path, query, body), ensure_ascii=False, indent=2) + "\n")
    order.append({"event": f"{name}.json", "function": function})
(out / "order.json").write_text(json.dumps(order, indent=2) + "\n")
print(f"{len(EVENTS)} API events and {len(S3_EVENTS)} S3 events written to {out}")
