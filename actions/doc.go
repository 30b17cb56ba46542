// Package actions holds the composite GitHub Actions, one folder per tool
// (actions/<tool>/action.yml), and the installer they share
// (actions/install/install.sh). Its tests check that each action.yml agrees
// with its tool's flags and outputs, and run the installer against a local
// release server.
package actions
