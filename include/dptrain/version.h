/* dptrain's version, printed by --version and stored in every run and checkpoint. */
#ifndef DPTRAIN_VERSION_H
#define DPTRAIN_VERSION_H

#define DPT_VERSION "0.1.0"

#endif
