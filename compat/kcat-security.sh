#!/usr/bin/env bash
# Drives Debian's kcat (librdkafka 2.0.x, built with ssl and sasl) against one Odradek broker with
# five listeners, certificates made here with the openssl CLI (a CA, a server certificate for
# localhost and 127.0.0.1, a client certificate CN=alice,O=Acme, and one from a CA the broker does
# not trust):
#   PLAINTEXT   no security (still served alongside the others)
#   SSL         TLS, PEM keystore and truststore files
#   SASL_SSL    SASL over TLS: SCRAM-SHA-512 (user seeded with add.scram), PLAIN (JAAS users),
#               OAUTHBEARER (unsecured tokens)
#   MTLS        TLS with ssl.client.auth=required
#   P12         as MTLS, with PKCS12 keystore and truststore made by `openssl pkcs12 -export`
# and checks metadata, produce and consume-back over each, that wrong passwords, unknown users,
# missing and untrusted client certificates fail, and that a plaintext client on a TLS port fails
# cleanly while the broker carries on.
#
#   bash compat/kcat-security.sh       # uses target/debug/odradek
#   KEEP_WORK=1 ...                    # keep the temp dir (certificates, broker log, kcat outputs)
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib/broker.sh"

command -v kcat >/dev/null 2>&1 || { say "kcat not installed (apt-get install -y kcat)"; exit 1; }
command -v openssl >/dev/null 2>&1 || { say "openssl not installed"; exit 1; }

# ------------------------------------------------------------------ certificates
CERTS=$WORK/certs
mkdir -p "$CERTS"
(
    cd "$CERTS"
    q() { "$@" >/dev/null 2>&1; }
    q openssl req -x509 -newkey rsa:2048 -noenc -keyout ca.key -out ca.pem -days 2 -subj "/CN=odradek-test-ca"
    q openssl req -newkey rsa:2048 -noenc -keyout server.key -out server.csr -subj "/CN=localhost"
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >san.ext
    q openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile san.ext
    cat server.key server.crt >server-keystore.pem
    q openssl req -newkey rsa:2048 -noenc -keyout alice.key -out alice.csr -subj "/O=Acme/CN=alice"
    # X.509 v3 (an extension file): webpki refuses v1 certificates, which openssl makes without one.
    printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n' >client.ext
    q openssl x509 -req -in alice.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out alice.crt -days 2 -extfile client.ext
    q openssl req -x509 -newkey rsa:2048 -noenc -keyout rogue-ca.key -out rogue-ca.pem -days 2 -subj "/CN=rogue-ca"
    q openssl req -newkey rsa:2048 -noenc -keyout rogue.key -out rogue.csr -subj "/CN=rogue"
    q openssl x509 -req -in rogue.csr -CA rogue-ca.pem -CAkey rogue-ca.key -CAcreateserial -out rogue.crt -days 2 -extfile client.ext
    # PKCS12 stores as keytool and the Testcontainers guides make them (OpenSSL 3: PBES2/AES-256).
    q openssl pkcs12 -export -inkey server.key -in server.crt -certfile ca.pem -name localhost -out server.p12 -passout pass:p12-secret
    q openssl pkcs12 -export -nokeys -in ca.pem -out trust.p12 -passout pass:trust-secret
)
say "certificates in $CERTS"

JAAS='org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret" user_admin="admin-secret" user_alice="alice-plain";'
odradek_start \
    --override "listeners=PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0,SASL_SSL://127.0.0.1:0,MTLS://127.0.0.1:0,P12://127.0.0.1:0" \
    --override "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL,MTLS:SSL,P12:SSL" \
    --override ssl.keystore.type=PEM \
    --override "ssl.keystore.location=$CERTS/server-keystore.pem" \
    --override ssl.truststore.type=PEM \
    --override "ssl.truststore.location=$CERTS/ca.pem" \
    --override listener.name.mtls.ssl.client.auth=required \
    --override listener.name.p12.ssl.keystore.type=PKCS12 \
    --override "listener.name.p12.ssl.keystore.location=$CERTS/server.p12" \
    --override listener.name.p12.ssl.keystore.password=p12-secret \
    --override listener.name.p12.ssl.key.password=p12-secret \
    --override listener.name.p12.ssl.truststore.type=PKCS12 \
    --override "listener.name.p12.ssl.truststore.location=$CERTS/trust.p12" \
    --override listener.name.p12.ssl.truststore.password=trust-secret \
    --override listener.name.p12.ssl.client.auth=required \
    --override "ssl.principal.mapping.rules=RULE:^CN=(.*?),O=(.*)\$/\$1@\$2/L,DEFAULT" \
    --override sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN,OAUTHBEARER \
    --override "listener.name.sasl_ssl.plain.sasl.jaas.config=$JAAS" \
    --override "add.scram=SCRAM-SHA-512=[name=alice,password=alice-scram]" \
    --override num.partitions=1

# The listeners' ports, from the startup line: "... listeners: SSL 127.0.0.1:PORT (SSL, ...), ...".
port_of() { grep -m1 -o "[ ,]$1 127.0.0.1:[0-9]*" "$BROKER_LOG" | sed 's/.*://'; }
SSL_PORT=$(port_of SSL); SASL_PORT=$(port_of SASL_SSL); MTLS_PORT=$(port_of MTLS); P12_PORT=$(port_of P12)
say "listeners: PLAINTEXT $BROKER, SSL :$SSL_PORT, SASL_SSL :$SASL_PORT, MTLS :$MTLS_PORT, P12 :$P12_PORT"

KCAT_TIMEOUT=${KCAT_TIMEOUT:-30}
TLS=(-X security.protocol=SSL -X "ssl.ca.location=$CERTS/ca.pem")
kc() { local addr=$1; shift; timeout --kill-after=5 "$KCAT_TIMEOUT" kcat -b "$addr" -m 10 "$@"; }

# round_trip NAME ADDR kcat-options...: produce 5 records to topic NAME, consume them back exactly.
round_trip() {
    local name=$1 addr=$2
    shift 2
    local want
    want=$(printf '%s-%d\n' "$name" 1 2 3 4 5)
    printf '%s\n' "$want" | kc "$addr" "$@" -P -t "$name" -K: 2>"$WORK/$name.perr" || { cat "$WORK/$name.perr"; return 1; }
    kc "$addr" "$@" -C -t "$name" -o beginning -c 5 -e -f '%s\n' >"$WORK/$name.out" 2>"$WORK/$name.cerr" || { cat "$WORK/$name.cerr"; return 1; }
    if [ "$(cat "$WORK/$name.out")" != "$want" ]; then
        echo "consumed:"; cat "$WORK/$name.out"; echo "expected:"; echo "$want"; return 1
    fi
}

# must_fail ADDR kcat-options...: metadata must fail (and not hang).
must_fail() {
    local addr=$1
    shift
    if kc "$addr" "$@" -L >"$WORK/fail.out" 2>&1; then
        echo "kcat succeeded but should have failed:"; cat "$WORK/fail.out"; return 1
    fi
    tail -n 3 "$WORK/fail.out"
}

meta_names_own_listener() {
    local addr=$1
    shift
    kc "$addr" "$@" -L >"$WORK/meta.out" 2>&1 || { cat "$WORK/meta.out"; return 1; }
    grep -q "at $addr" "$WORK/meta.out" || { echo "metadata does not advertise $addr:"; cat "$WORK/meta.out"; return 1; }
}

SCRAM=(-X security.protocol=SASL_SSL -X "ssl.ca.location=$CERTS/ca.pem" -X sasl.mechanisms=SCRAM-SHA-512 -X sasl.username=alice -X sasl.password=alice-scram)
PLAIN=(-X security.protocol=SASL_SSL -X "ssl.ca.location=$CERTS/ca.pem" -X sasl.mechanisms=PLAIN -X sasl.username=alice -X sasl.password=alice-plain)
OAUTH=(-X security.protocol=SASL_SSL -X "ssl.ca.location=$CERTS/ca.pem" -X sasl.mechanisms=OAUTHBEARER -X enable.sasl.oauthbearer.unsecure.jwt=true -X "sasl.oauthbearer.config=principal=admin")
MTLS=(-X security.protocol=SSL -X "ssl.ca.location=$CERTS/ca.pem" -X "ssl.certificate.location=$CERTS/alice.crt" -X "ssl.key.location=$CERTS/alice.key")

check "metadata over SSL names the SSL listener" meta_names_own_listener "127.0.0.1:$SSL_PORT" "${TLS[@]}"
check "metadata over PLAINTEXT names the PLAINTEXT listener" meta_names_own_listener "$BROKER"
check "produce/consume over SSL" round_trip sec-ssl "127.0.0.1:$SSL_PORT" "${TLS[@]}"
check "produce/consume over SASL_SSL SCRAM-SHA-512" round_trip sec-scram "127.0.0.1:$SASL_PORT" "${SCRAM[@]}"
check "produce/consume over SASL_SSL PLAIN" round_trip sec-plain "127.0.0.1:$SASL_PORT" "${PLAIN[@]}"
check "produce/consume over SASL_SSL OAUTHBEARER" round_trip sec-oauth "127.0.0.1:$SASL_PORT" "${OAUTH[@]}"
check "produce/consume over mTLS with a trusted client certificate" round_trip sec-mtls "127.0.0.1:$MTLS_PORT" "${MTLS[@]}"
check "produce/consume over mTLS with PKCS12 key and trust stores" round_trip sec-p12 "127.0.0.1:$P12_PORT" "${MTLS[@]}"
check "PKCS12 truststore refuses an untrusted client certificate" must_fail "127.0.0.1:$P12_PORT" "${TLS[@]}" -X "ssl.certificate.location=$CERTS/rogue.crt" -X "ssl.key.location=$CERTS/rogue.key"
check "the SSL records are readable over PLAINTEXT" round_trip sec-ssl2 "$BROKER"
check "SCRAM with a wrong password fails" must_fail "127.0.0.1:$SASL_PORT" "${SCRAM[@]}" -X sasl.password=wrong
check "PLAIN with an unknown user fails" must_fail "127.0.0.1:$SASL_PORT" "${PLAIN[@]}" -X sasl.username=mallory
check "mTLS without a client certificate fails" must_fail "127.0.0.1:$MTLS_PORT" "${TLS[@]}"
check "mTLS with an untrusted client certificate fails" must_fail "127.0.0.1:$MTLS_PORT" "${TLS[@]}" -X "ssl.certificate.location=$CERTS/rogue.crt" -X "ssl.key.location=$CERTS/rogue.key"
check "a plaintext client on the SSL port fails" must_fail "127.0.0.1:$SSL_PORT"
check "an SSL client that does not trust the broker's CA fails" must_fail "127.0.0.1:$SSL_PORT" -X security.protocol=SSL -X "ssl.ca.location=$CERTS/rogue-ca.pem"
check "the broker carries on: produce/consume over SSL again" round_trip sec-ssl3 "127.0.0.1:$SSL_PORT" "${TLS[@]}"
check "broker log names the failed authentications" grep -q "authentication failed" "$BROKER_LOG"
finish
