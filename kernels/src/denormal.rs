//! Flushing denormals to zero while a kernel runs.
//!
//! Sigmoid gates and their gradients produce denormal floats, and x86 handles those in
//! microcode at 10-100x the cost of a normal operation. `FlushDenormals` sets the MXCSR
//! flush-to-zero and denormals-are-zero bits for the current thread and restores the caller's
//! MXCSR when dropped. MXCSR is per thread: every rayon task that runs a hot loop takes its
//! own guard. A thread that runs nothing but training sets them for good (`flush_for_good`),
//! so that code between kernels, and tasks a worker picks up while a guard of another task
//! is active, all round the same way.

/// FTZ (bit 15) and DAZ (bit 6) of MXCSR.
#[cfg(target_arch = "x86_64")]
const FTZ_DAZ: u32 = 0x8040;

pub struct FlushDenormals {
    #[cfg(target_arch = "x86_64")]
    saved: u32,
}

impl FlushDenormals {
    #[allow(deprecated, clippy::new_without_default)]
    pub fn new() -> FlushDenormals {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_mm_getcsr, _mm_setcsr};
            // SAFETY: reading and writing MXCSR only changes how this thread rounds
            // denormals; every x86-64 CPU has SSE.
            let saved = unsafe { _mm_getcsr() };
            unsafe { _mm_setcsr(saved | FTZ_DAZ) };
            FlushDenormals { saved }
        }
        #[cfg(not(target_arch = "x86_64"))]
        FlushDenormals {}
    }
}

/// Sets flush-to-zero and denormals-are-zero on this thread until it ends.
#[allow(deprecated)]
pub fn flush_for_good() {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_getcsr, _mm_setcsr};
        // SAFETY: as in `FlushDenormals::new`.
        unsafe { _mm_setcsr(_mm_getcsr() | FTZ_DAZ) };
    }
}

impl Drop for FlushDenormals {
    #[allow(deprecated)]
    fn drop(&mut self) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: restores the value read in `new`.
        unsafe {
            std::arch::x86_64::_mm_setcsr(self.saved)
        };
    }
}
