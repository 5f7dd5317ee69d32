export { startControlPlane, runServerMain, type ControlPlane } from "./control-plane.js";
export { loadServerConfig, SERVER_ENV, type ServerConfig } from "./config.js";
export { createLogger, type Logger } from "./logger.js";
