#ifndef FTPTUNNEL_CCRYPT_SHIM_H
#define FTPTUNNEL_CCRYPT_SHIM_H
#include <crypt.h>
#endif
