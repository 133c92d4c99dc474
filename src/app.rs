//! app
/// Config.
pub struct Config;
/// App.
pub struct App;
/// AppError.
#[derive(Debug)]
pub struct AppError;
