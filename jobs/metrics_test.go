package jobs_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// histogramCount is the number of observations of the histogram name with
// the label pipeline.
func histogramCount(t *testing.T, reg *prometheus.Registry, name, pipeline string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "pipeline" && l.GetValue() == pipeline {
					return m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return 0
}

// gaugeValue is the value of the unlabelled gauge name.
func gaugeValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no gauge %s", name)
	return 0
}
