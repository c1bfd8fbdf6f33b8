// SPDX-License-Identifier: Apache-2.0
`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * axis_skid — AXI4-Stream register slice (skid buffer): registers tdata/tlast/tvalid and
 * tready, so that neither the forward nor the backward path is combinational across it.
 *
 * Parameters
 *   DATA_W  width of tdata (>= 1)
 * Ports
 *   clk, rst                   clock; synchronous active-high reset
 *   s_axis_t{data,last,valid,ready}   input stream
 *   m_axis_t{data,last,valid,ready}   output stream
 * Latency and throughput
 *   latency 1 cycle (a beat accepted at edge k is valid at the output after edge k);
 *   one beat per cycle while m_axis_tready is high; under back-pressure it holds up to two beats
 *   and never drops or duplicates one.
 */
module axis_skid #(
    parameter integer DATA_W = 8  // width of tdata
) (
    input  wire              clk,
    input  wire              rst,
    input  wire [DATA_W-1:0] s_axis_tdata,
    input  wire              s_axis_tlast,
    input  wire              s_axis_tvalid,
    output wire              s_axis_tready,
    output wire [DATA_W-1:0] m_axis_tdata,
    output wire              m_axis_tlast,
    output wire              m_axis_tvalid,
    input  wire              m_axis_tready
);

    generate
        if (DATA_W < 1) begin : g_bad_width
            initial $error("axis_skid: DATA_W must be >= 1 (instance %m)");
        end
    endgenerate

    reg [DATA_W:0] out_reg;  // {tlast, tdata} presented at the output
    reg [DATA_W:0] skid_reg;  // a beat parked while the output stalls
    reg out_valid_reg;  // valid flags are reset; data registers need not be
    reg skid_valid_reg;

    assign s_axis_tready = !skid_valid_reg;
    assign m_axis_tvalid = out_valid_reg;
    assign {m_axis_tlast, m_axis_tdata} = out_reg;

    always @(posedge clk) begin
        if (rst) begin
            out_valid_reg <= 1'b0;
            skid_valid_reg <= 1'b0;
        end else if (m_axis_tready || !out_valid_reg) begin
            // the output register takes a beat: the parked one first, else the input's
            if (skid_valid_reg) begin
                out_reg <= skid_reg;
                out_valid_reg <= 1'b1;
                skid_valid_reg <= 1'b0;
            end else begin
                out_reg <= {s_axis_tlast, s_axis_tdata};
                out_valid_reg <= s_axis_tvalid;
            end
        end else if (s_axis_tvalid && s_axis_tready) begin
            // the output stalls: park the incoming beat
            skid_reg <= {s_axis_tlast, s_axis_tdata};
            skid_valid_reg <= 1'b1;
        end
    end

endmodule

`resetall
