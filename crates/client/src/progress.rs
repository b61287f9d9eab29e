//! Progress bars (bytes, rate, ETA) on stderr or stdout, as the seed's `show_progress`,
//! `out_progress_to_err` and `progress_desc` ask. Hidden when off or not on a terminal.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub const DEFAULT_UPLOAD_DESC: &str = "Uploading Package to Remote Storage";
pub const DEFAULT_DOWNLOAD_DESC: &str = "Downloading from Remote Storage";

#[derive(Debug, Clone)]
pub struct ProgressOptions {
    pub show: bool,
    pub to_stderr: bool,
    pub description: String,
    /// A counter the caller draws itself (the Python package renders it in a notebook cell);
    /// when given, nothing is drawn here.
    pub external: Option<ProgressBar>,
}

impl ProgressOptions {
    pub fn hidden() -> Self {
        ProgressOptions { show: false, to_stderr: true, description: String::new(), external: None }
    }
}

pub fn bar(options: &ProgressOptions, total: u64) -> ProgressBar {
    if let Some(external) = &options.external {
        external.set_length(total);
        external.set_position(0);
        return external.clone();
    }
    if !options.show {
        return ProgressBar::hidden();
    }
    let target = if options.to_stderr { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::stdout() };
    let bar = ProgressBar::with_draw_target(Some(total), target);
    let style = ProgressStyle::with_template(
        "{msg} {wide_bar:.cyan/blue} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    bar.set_style(style);
    // The caller's text, shown through the same escaping as every CLI table.
    bar.set_message(fedml_proto::text::visible(&options.description).into_owned());
    bar
}
