#!/bin/sh
echo "kvitt: demo: nothing to do yet"
