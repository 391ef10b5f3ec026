#ifndef FTPTUNNEL_COPENSSL_SHIM_H
#define FTPTUNNEL_COPENSSL_SHIM_H
/* Blowfish (bcrypt_pbkdf's block function) is deprecated in OpenSSL 3 but present; no warnings for it. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <openssl/rand.h>
#include <openssl/bio.h>
#include <openssl/blowfish.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#endif
