//! Which instruction set a kernel with two versions runs: the binary targets AVX2
//! (`x86-64-v3`), and the few kernels where 512-bit registers pay have a second version
//! compiled for AVX-512F, chosen at run time. Each second version does its first's
//! operations lane for lane in the same order, so the choice changes the speed, never the
//! bits.

/// A kernel's instruction set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    Avx2,
    Avx512,
}

impl Isa {
    /// AVX-512 when this CPU has it. std caches the CPUID answer, so this is a load and a test.
    pub fn best() -> Isa {
        if std::arch::is_x86_feature_detected!("avx512f") {
            Isa::Avx512
        } else {
            Isa::Avx2
        }
    }

    /// Whether this CPU runs it.
    pub fn runs_here(self) -> bool {
        self == Isa::Avx2 || Isa::best() == Isa::Avx512
    }

    /// Every instruction set this CPU runs, for tests that compare them.
    pub fn available() -> Vec<Isa> {
        match Isa::best() {
            Isa::Avx512 => vec![Isa::Avx2, Isa::Avx512],
            Isa::Avx2 => vec![Isa::Avx2],
        }
    }
}
