#ifndef TESSERA_CMPI_SHIM_H
#define TESSERA_CMPI_SHIM_H
// Open MPI spells its predefined handles as C macros over global symbols
// (e.g. `#define MPI_COMM_WORLD OMPI_PREDEFINED_GLOBAL(MPI_Comm, ompi_mpi_comm_world)`),
// which Swift cannot import. These inline functions re-export them.
#include <mpi.h>
#include <stdint.h>

static inline MPI_Comm tessera_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Comm tessera_mpi_comm_null(void) { return MPI_COMM_NULL; }
static inline MPI_Datatype tessera_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype tessera_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Op tessera_mpi_sum(void) { return MPI_SUM; }
static inline MPI_Op tessera_mpi_max(void) { return MPI_MAX; }
static inline MPI_Request tessera_mpi_request_null(void) { return MPI_REQUEST_NULL; }
static inline MPI_Status *tessera_mpi_status_ignore(void) { return MPI_STATUS_IGNORE; }
static inline void *tessera_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline MPI_Errhandler tessera_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline int tessera_mpi_thread_multiple(void) { return MPI_THREAD_MULTIPLE; }
static inline int tessera_mpi_any_source(void) { return MPI_ANY_SOURCE; }
static inline int tessera_mpi_undefined(void) { return MPI_UNDEFINED; }
static inline int tessera_mpi_success(void) { return MPI_SUCCESS; }
static inline MPI_Comm tessera_mpi_comm_self(void) { return MPI_COMM_SELF; }
static inline MPI_Datatype tessera_mpi_int64(void) { return MPI_INT64_T; }
static inline MPI_Datatype tessera_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Info tessera_mpi_info_null(void) { return MPI_INFO_NULL; }
static inline MPI_Win tessera_mpi_win_null(void) { return MPI_WIN_NULL; }
static inline MPI_Op tessera_mpi_min(void) { return MPI_MIN; }
static inline int tessera_mpi_comm_type_shared(void) { return MPI_COMM_TYPE_SHARED; }
static inline int tessera_mpi_tag_ub(void) { return MPI_TAG_UB; }
static inline int tessera_mpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
static inline int tessera_mpi_lock_shared(void) { return MPI_LOCK_SHARED; }
static inline int tessera_mpi_mode_nocheck(void) { return MPI_MODE_NOCHECK; }
static inline int tessera_mpi_win_model(void) { return MPI_WIN_MODEL; }
static inline int tessera_mpi_win_unified(void) { return MPI_WIN_UNIFIED; }
// A store that later loads and RMA reads never see before the stores preceding it (a plain move on x86-64).
static inline void tessera_store_release_int64(int64_t *address, int64_t value) {
    __atomic_store_n(address, value, __ATOMIC_RELEASE);
}

#endif
