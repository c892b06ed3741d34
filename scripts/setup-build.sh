#!/usr/bin/env bash
# Installs what building finpulse needs beyond the Rust toolchain, when missing: cmake, the
# libcurl and OpenSSL headers, with which the rdkafka crate compiles its bundled librdkafka (Debian
# packages; nothing is committed).
set -euo pipefail
missing=()
command -v cmake >/dev/null || missing+=(cmake)
[[ -f /usr/include/curl/curl.h || -f /usr/include/x86_64-linux-gnu/curl/curl.h ]] || missing+=(libcurl4-openssl-dev)
command -v cc >/dev/null || missing+=(build-essential)
# OpenSSL for librdkafka's TLS and SCRAM (kafka.security).
[[ -f /usr/include/openssl/ssl.h ]] || missing+=(libssl-dev)
command -v pkg-config >/dev/null || missing+=(pkg-config)
if (( ${#missing[@]} )); then
  echo "installing build prerequisites: ${missing[*]}"
  sudo_cmd=(); [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get install -y -q "${missing[@]}" >/dev/null || {
    "${sudo_cmd[@]}" apt-get update -q >/dev/null && "${sudo_cmd[@]}" apt-get install -y -q "${missing[@]}" >/dev/null
  }
fi
