#!/usr/bin/env bash
# Generates SAT-style e.firma test material with openssl, for tests and demos:
#   OUT/NAME.cer  X.509 certificate, DER, serial = ASCII of a 20-digit number,
#                 subject serialNumber = the holder's CURP
#   OUT/NAME.key  PKCS#8 EncryptedPrivateKeyInfo, DER (3DES + HMAC-SHA1 like
#                 older SAT keys, AES-256 + HMAC-SHA256 like newer ones, or
#                 unencrypted with "none")
#   OUT/NAME.password
# Usage: gen-efirma.sh OUT NAME "HOLDER NAME" CURP SERIAL20 START END des3|aes256|none PASSWORD
# START/END as YYYYMMDDhhmmssZ. Nothing here is a real e.firma.
# The certificate is issued by the demo CA (assets/trust/demo/, the CA that
# `certifica serve` trusts by default) unless GEN_EFIRMA_CA names another
# folder (its ca.pem/ca.key, created there if missing: a CA nobody trusts).
# Key usage as SAT's e.firma (digitalSignature, nonRepudiation, …) unless
# GEN_EFIRMA_KEY_USAGE gives another (e.g. keyEncipherment: not for signing).
set -euo pipefail
out=$1 name=$2 holder=$3 curp=$4 serial=$5 start=$6 end=$7 cipher=$8 password=$9
[[ ${#serial} -eq 20 && $serial =~ ^[0-9]+$ ]] || { echo "SERIAL20 must be 20 digits" >&2; exit 2; }
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$(cd "$(dirname "$0")/.." && pwd)
if [[ -n ${GEN_EFIRMA_CA:-} ]]; then
  ca_cert=$GEN_EFIRMA_CA/ca.pem ca_key=$GEN_EFIRMA_CA/ca.key
  if [[ ! -f $ca_cert ]]; then
    mkdir -p "$GEN_EFIRMA_CA"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$ca_key" -out "$ca_cert" -days 9000 \
      -subj "/CN=AC AJENA DE PRUEBAS (SIN VALIDEZ)/O=Otra AC/C=MX" 2>/dev/null
  fi
else
  ca_cert=$root/assets/trust/demo/ac-pruebas-certifica.pem ca_key=$root/scripts/demo-ca/ac-pruebas-certifica.key
fi
key_usage=${GEN_EFIRMA_KEY_USAGE:-critical, digitalSignature, nonRepudiation, dataEncipherment, keyAgreement}
printf 'keyUsage = %s\n' "$key_usage" > "$work/ext.cnf"
cat > "$work/ca.cnf" <<CNF
[ ca ]
default_ca = testca
[ testca ]
database = $work/index.txt
new_certs_dir = $work
serial = $work/serial
default_md = sha256
policy = policy_any
unique_subject = no
[ policy_any ]
commonName = supplied
serialNumber = optional
organizationName = optional
countryName = optional
CNF
: > "$work/index.txt"
# SAT puts the ASCII codes of the digits in the serial.
printf '%s' "$serial" | od -An -tx1 | tr -d ' \n' > "$work/serial"
echo >> "$work/serial"
openssl genrsa -out "$work/key.pem" 2048 2>/dev/null
openssl req -new -key "$work/key.pem" -out "$work/req.csr" -utf8 \
  -subj "/CN=$holder/serialNumber=$curp/O=$holder/C=MX"
openssl ca -batch -config "$work/ca.cnf" -cert "$ca_cert" -keyfile "$ca_key" -in "$work/req.csr" \
  -extfile "$work/ext.cnf" -out "$work/cert.pem" -startdate "$start" -enddate "$end" -notext -preserveDN -utf8 2>/dev/null
openssl x509 -in "$work/cert.pem" -outform DER -out "$out/$name.cer"
printf '%s' "$password" > "$out/$name.password"
case $cipher in
  des3) openssl pkcs8 -topk8 -in "$work/key.pem" -outform DER -out "$out/$name.key" -v2 des3 -v2prf hmacWithSHA1 -passout "file:$out/$name.password" ;;
  aes256) openssl pkcs8 -topk8 -in "$work/key.pem" -outform DER -out "$out/$name.key" -v2 aes-256-cbc -v2prf hmacWithSHA256 -passout "file:$out/$name.password" ;;
  none) openssl pkcs8 -topk8 -in "$work/key.pem" -outform DER -out "$out/$name.key" -nocrypt ;;
  *) echo "cipher must be des3, aes256 or none" >&2; exit 2 ;;
esac
