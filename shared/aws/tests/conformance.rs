//! The DynamoDB adapter passes the storage conformance suite against moto
//! server on 127.0.0.1, started by `scripts/test.sh` (which sets
//! `CERTIFICA_TEST_AWS_ENDPOINT`), and the stamping check under injected
//! failures over DynamoDB and S3. Never against real AWS.

mod emulator;

certifica_conformance::conformance_tests!(emulator::records());
certifica_conformance::stamping_conformance_tests!(emulator::records(), emulator::documents());
