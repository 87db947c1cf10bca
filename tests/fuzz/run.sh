#!/bin/sh
echo "no fuzz targets yet"
