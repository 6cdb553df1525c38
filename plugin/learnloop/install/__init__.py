"""Installing learnloop into the host tools from manifests: install, uninstall, doctor."""
