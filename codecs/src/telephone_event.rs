//! (filled by the media work)
