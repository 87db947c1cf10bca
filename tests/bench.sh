#!/bin/sh
echo "kvitt: bench: nothing to do yet"
